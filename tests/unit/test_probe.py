"""The gradient probe against brute-force per-task backward passes (float64)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from moola.models.jade_core import JadeCompact
from moola.probe import ProbeReport, probe_from_graph, probe_gradients
from moola.tasks import make_tasks
from tests.helpers.gradients import per_task_grads
from tests.helpers.models import tiny_model

TASKS = make_tasks()
N_FEATURES, WINDOW, BATCH = 6, 14, 4
RTOL = 1e-6


WEIGHTS = st.lists(
    st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False),
    min_size=4,
    max_size=4,
)


def build(seed: int = 0) -> tuple[JadeCompact, torch.Tensor, dict[str, torch.Tensor]]:
    model = tiny_model(N_FEATURES, seed=seed, dtype=torch.float64)
    x = torch.randn(BATCH, WINDOW, N_FEATURES, dtype=torch.float64)
    label = torch.tensor([0, 1, 2, 1])
    start = torch.tensor([1, 4, 0, 9])
    end = torch.tensor([5, 4, 13, 12])
    targets = TASKS.build_targets(label, start, end, window=WINDOW)
    targets = {k: v.double() if v.is_floating_point() else v for k, v in targets.items()}
    return model, x, targets


@pytest.fixture(scope="module")
def setup():
    return build(0)


def brute_force(model, x, targets, weights):
    """Per task: fresh forward, zero grads, (wᵢ·Lᵢ).backward(), read the LSTM grads."""
    return per_task_grads(model, x, targets, TASKS, weights)


def check_against_brute_force(report: ProbeReport, model, x, targets, weights):
    w = torch.tensor(weights, dtype=torch.float64)
    prio = TASKS.priorities().double()
    trunk, rep = brute_force(model, x, targets, weights)
    norms = trunk.norm(dim=1)
    raw = norms / w
    torch.testing.assert_close(report.trunk_grad_norm, norms, rtol=RTOL, atol=0)
    torch.testing.assert_close(report.raw_trunk_grad_norm, raw, rtol=RTOL, atol=0)
    torch.testing.assert_close(report.rep_grad_norm, rep.norm(dim=1), rtol=RTOL, atol=0)
    cos = torch.empty(4, 4, dtype=torch.float64)
    for i in range(4):
        for j in range(4):
            cos[i, j] = (trunk[i] @ trunk[j]) / (norms[i] * norms[j])
    torch.testing.assert_close(report.cosine, cos, rtol=0, atol=1e-9)
    torch.testing.assert_close(report.share, norms / norms.sum(), rtol=RTOL, atol=0)
    geomean = math.exp(sum(math.log(float(g)) for g in raw) / 4)
    torch.testing.assert_close(report.effective_weight, w * raw / geomean, rtol=RTOL, atol=0)
    ratio = norms / prio
    assert float(report.spread) == pytest.approx(float(ratio.max() / ratio.min()), rel=RTOL)
    torch.testing.assert_close(report.weights, w, rtol=0, atol=0)
    return trunk


@settings(max_examples=20, deadline=None)
@given(weights=WEIGHTS)
def test_probe_gradients_matches_brute_force(setup, weights):
    model, x, targets = setup
    report = probe_gradients(model, x, targets, TASKS, torch.tensor(weights, dtype=torch.float64))
    check_against_brute_force(report, model, x, targets, weights)
    with torch.no_grad():
        out = model(x)
    expected_losses = torch.stack([t.loss(out[t.output_key], targets[t.name]) for t in TASKS])
    torch.testing.assert_close(report.losses, expected_losses, rtol=1e-12, atol=0)


@settings(max_examples=10, deadline=None)
@given(weights=WEIGHTS)
def test_probe_from_graph_matches_brute_force(setup, weights):
    model, x, targets = setup
    trunk_out = model.encode(x)
    losses = TASKS.losses(model.decode(trunk_out), targets)
    report = probe_from_graph(
        losses,
        trunk_out,
        model.trunk_parameters(),
        torch.tensor(weights, dtype=torch.float64),
        TASKS.priorities(),
        TASKS.names,
    )
    check_against_brute_force(report, model, x, targets, weights)


def test_probe_from_graph_retain_graph_allows_backward_afterwards(setup):
    model, x, targets = setup
    trunk_out = model.encode(x)
    losses = TASKS.losses(model.decode(trunk_out), targets)
    w = torch.ones(4, dtype=torch.float64)
    probe_from_graph(
        losses,
        trunk_out,
        model.trunk_parameters(),
        w,
        TASKS.priorities(),
        TASKS.names,
        retain_graph=True,
    )
    model.zero_grad(set_to_none=True)
    losses.sum().backward()  # would raise if the probe had freed the graph
    assert all(p.grad is not None for p in model.trunk_parameters())
    model.zero_grad(set_to_none=True)


def test_spread_is_one_when_weights_equalise_norm_per_priority(setup):
    model, x, targets = setup
    unit = probe_gradients(model, x, targets, TASKS, torch.ones(4, dtype=torch.float64))
    # the probe divides by the task set's (float32) priorities
    prio = TASKS.priorities().double()
    weights = prio / unit.raw_trunk_grad_norm
    report = probe_gradients(model, x, targets, TASKS, weights)
    assert float(report.spread) == pytest.approx(1.0, abs=1e-9)
    torch.testing.assert_close(report.share, prio / prio.sum(), rtol=1e-9, atol=0)


def test_probe_leaves_grads_untouched():
    model, x, targets = build(1)
    params = list(model.parameters())
    # Half the parameters hold a gradient, the others none.
    for k, p in enumerate(params):
        p.grad = torch.randn_like(p) if k % 2 == 0 else None
    before = [None if p.grad is None else p.grad.clone() for p in params]
    values_before = [p.detach().clone() for p in params]
    probe_gradients(model, x, targets, TASKS, torch.tensor([0.1, 0.7, 0.1, 0.1]))
    trunk_out = model.encode(x)
    probe_from_graph(
        TASKS.losses(model.decode(trunk_out), targets),
        trunk_out,
        model.trunk_parameters(),
        torch.ones(4),
        TASKS.priorities(),
        TASKS.names,
    )
    for p, g, v in zip(params, before, values_before):
        if g is None:
            assert p.grad is None
        else:
            assert torch.equal(p.grad, g)
        assert torch.equal(p.detach(), v)


def test_report_stays_tensor_until_to_dict(setup):
    model, x, targets = setup
    report = probe_gradients(model, x, targets, TASKS, torch.tensor([0.1, 0.7, 0.1, 0.1]))
    for field in (
        "losses",
        "weights",
        "priorities",
        "raw_trunk_grad_norm",
        "trunk_grad_norm",
        "rep_grad_norm",
        "cosine",
    ):
        value = getattr(report, field)
        assert isinstance(value, torch.Tensor), field
        assert not value.requires_grad, field
        assert value.device == x.device
    for prop in ("share", "effective_weight", "per_priority", "spread", "worst_cosine"):
        assert isinstance(getattr(report, prop), torch.Tensor), prop
    assert report.cosine.shape == (4, 4)
    assert report.trunk_grad_norm.shape == (4,)

    d = report.to_dict()
    assert type(d["spread"]) is float
    assert d["spread"] == pytest.approx(float(report.spread))
    assert list(d["tasks"]) == list(TASKS.names)
    for i, name in enumerate(TASKS.names):
        row = d["tasks"][name]
        for key, value in row.items():
            assert type(value) is float, (name, key)
        assert row["trunk_grad_norm"] == pytest.approx(float(report.trunk_grad_norm[i]))
        assert row["share"] == pytest.approx(float(report.share[i]))
        # worst cosine: the most negative off-diagonal cosine
        others = [float(report.cosine[i, j]) for j in range(4) if j != i]
        assert row["worst_cosine"] == pytest.approx(min(others))
    assert all(type(v) is float for r in d["cosine"] for v in r)
    assert sum(r["share"] for r in d["tasks"].values()) == pytest.approx(1.0)


def test_plugin_gradient_shares_agree_with_probe_and_brute_force(setup):
    """moola.testing's gradient_shares is the probe's math on any model: on JadeCompact with
    unit weights it gives the probe's trunk norms, cosines and shares, and the brute force's."""
    from moola.testing import gradient_shares

    model, x, targets = setup
    trunk_out = model.encode(x)
    losses = TASKS.losses(model.decode(trunk_out), targets)
    ones = torch.ones(4, dtype=torch.float64)
    report = probe_from_graph(
        losses,
        trunk_out,
        model.trunk_parameters(),
        ones,
        TASKS.priorities(),
        TASKS.names,
        retain_graph=True,
    )
    by_task = dict(zip(TASKS.names, losses))
    on_params = gradient_shares(model, by_task, model.trunk_parameters(), retain_graph=True)
    on_output = gradient_shares(model, by_task, trunk_out)
    trunk, rep = brute_force(model, x, targets, [1.0] * 4)
    assert on_params.tasks == TASKS.names
    torch.testing.assert_close(on_params.norms, trunk.norm(dim=1), rtol=RTOL, atol=0)
    torch.testing.assert_close(on_params.norms, report.trunk_grad_norm, rtol=0, atol=0)
    torch.testing.assert_close(on_params.cosine, report.cosine, rtol=0, atol=0)
    torch.testing.assert_close(on_params.shares, report.share, rtol=0, atol=0)
    torch.testing.assert_close(on_params.worst_cosine, report.worst_cosine, rtol=0, atol=0)
    torch.testing.assert_close(on_output.norms, rep.norm(dim=1), rtol=RTOL, atol=0)
