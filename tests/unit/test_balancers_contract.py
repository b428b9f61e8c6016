"""Every loss balancer against the Balancer contract, then each method's defining property."""

from __future__ import annotations

import copy
import io
import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from moola.balancing import BALANCERS, StepContext, make_balancer, project_conflicting
from moola.errors import ConfigError
from moola.models.jade_core import JadeCompact, JadeConfig
from moola.probe import probe_gradients
from moola.seeding import seed_everything
from moola.tasks import make_tasks
from moola.train.step import EagerStep
from moola.train.step import make_optimizer as make_train_optimizer

TASKS = make_tasks()
#: Gradient entries: zero or comfortably normal floats (products of subnormals underflow).
FINITE = st.floats(-5, 5, allow_subnormal=False).filter(lambda v: v == 0 or abs(v) > 1e-6)
NAMES = sorted(BALANCERS)
N_FEATURES, WINDOW, BATCH = 5, 14, 4
CONFIG = JadeConfig(
    n_features=N_FEATURES, hidden_size=8, projection_dim=8, input_dropout=0.0, dense_dropout=0.0
)


# ---------------------------------------------------------------- harness


def make_model(seed: int, dtype: torch.dtype = torch.float32) -> JadeCompact:
    seed_everything(seed)
    return JadeCompact(CONFIG).to(dtype)


def make_batch(seed: int, dtype: torch.dtype = torch.float32, tasks=TASKS):
    g = torch.Generator().manual_seed(1000 + seed)
    x = torch.randn(BATCH, WINDOW, N_FEATURES, generator=g, dtype=dtype)
    label = torch.randint(0, 3, (BATCH,), generator=g)
    start = torch.randint(0, WINDOW - 4, (BATCH,), generator=g)
    end = start + torch.randint(0, 4, (BATCH,), generator=g)
    targets = tasks.build_targets(label, start, end, window=WINDOW)
    targets = {k: v.to(dtype) if v.is_floating_point() else v for k, v in targets.items()}
    return x, targets


def forward(model, x, targets, tasks=TASKS):
    trunk_out = model.encode(x)
    return tasks.losses(model.decode(trunk_out), targets), trunk_out


def task_params(model: JadeCompact, name: str) -> list[torch.nn.Parameter]:
    params = model.trunk_parameters() + model.head_parameters()
    if name == "uncertainty":
        params += model.log_sigma_parameters()
    return params


def full_step(model, balancer, optimizer, batch, step, tasks=TASKS):
    """One train step, by the trainer's own :class:`EagerStep` (without clipping, so that the
    gradients are exactly the balancer's); returns (weights, grads before the update)."""
    x, targets = batch
    train_step = EagerStep(model, tasks, balancer, optimizer, grad_clip=None)
    grads: dict[str, torch.Tensor | None] = {}

    def capture(*_: object) -> None:
        grads.update(
            {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}
        )

    handle = optimizer.register_step_pre_hook(capture)
    try:
        out = train_step(x, targets, step)
    finally:
        handle.remove()
    return out.weights, grads


def make_optimizer(model, balancer):
    """The trainer's optimizer (AdamW, foreach on the CPU), at a learning rate that moves a
    tiny model visibly in a few steps."""
    return make_train_optimizer(
        list(model.parameters()) + balancer.parameters(),
        lr=1e-2,
        weight_decay=0.01,
        device=torch.device("cpu"),
        graph=False,
    )


def run(name: str, n_steps: int, seed: int = 0, **options):
    model = make_model(seed)
    balancer = make_balancer(name, TASKS, **options)
    optimizer = make_optimizer(model, balancer)
    history = [full_step(model, balancer, optimizer, make_batch(s), s) for s in range(n_steps)]
    return model, balancer, optimizer, history


def trunk_grad(model):
    return torch.cat([p.grad.reshape(-1) for p in model.trunk_parameters()])


def brute_force_weighted_grads(model, batch, weights):
    """∇ Σ wᵢ·Lᵢ on a copy of the model, by plain autograd."""
    clone = copy.deepcopy(model)
    clone.zero_grad(set_to_none=True)
    losses, _ = forward(clone, *batch)
    (weights.detach().to(losses.dtype) * losses).sum().backward()
    return {n: p.grad for n, p in clone.named_parameters()}


# ---------------------------------------------------------------- contract (every balancer)


@pytest.mark.parametrize("name", NAMES)
def test_three_steps_weights_and_grads_finite(name):
    model = make_model(0)
    balancer = make_balancer(name, TASKS)
    optimizer = make_optimizer(model, balancer)
    used = {id(p) for p in task_params(model, name)}
    for step in range(3):
        weights, grads = full_step(model, balancer, optimizer, make_batch(step), step)
        assert isinstance(weights, torch.Tensor)
        assert weights.shape == (4,)
        assert not weights.requires_grad
        assert bool(torch.isfinite(weights).all()), weights
        assert bool((weights >= 0).all()), weights
        for n, p in model.named_parameters():
            if id(p) in used:
                assert grads[n] is not None, (step, n)
                assert bool(torch.isfinite(grads[n]).all()), (step, n)
    for p in model.parameters():
        assert bool(torch.isfinite(p).all())


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name):
    model, balancer, optimizer, _ = run(name, 2)
    buffer = io.BytesIO()
    torch.save(balancer.state_dict(), buffer)  # as a checkpoint would
    buffer.seek(0)
    state = torch.load(buffer, weights_only=False)
    model2, optimizer2 = copy.deepcopy((model, optimizer))
    fresh = make_balancer(name, TASKS)
    fresh.load_state_dict(state)
    # Two more steps each: the first compares restored weights, the second the restored
    # internal optimizer state (GradNorm, FAMO) through the weights it produces.
    for step in (2, 3):
        batch = make_batch(step)
        w1, g1 = full_step(model, balancer, optimizer, batch, step)
        w2, g2 = full_step(model2, fresh, optimizer2, batch, step)
        assert torch.equal(w1, w2), (step, w1, w2)
        for n in g1:
            assert (g1[n] is None) == (g2[n] is None), n
            if g1[n] is not None:
                assert torch.equal(g1[n], g2[n]), (step, n)


@pytest.mark.parametrize("name", ["trunknorm", "gradnorm", "legacy", "famo", "pcgrad"])
def test_state_dict_captures_state(name):
    """A balancer that does *not* load the state diverges (so the round trip is not vacuous)."""
    model, balancer, optimizer, _ = run(name, 2)
    model2, optimizer2 = copy.deepcopy((model, optimizer))
    fresh = make_balancer(name, TASKS)
    differs = False
    for step in (2, 3):
        batch = make_batch(step)
        w1, _ = full_step(model, balancer, optimizer, batch, step)
        w2, _ = full_step(model2, fresh, optimizer2, batch, step)
        differs |= not torch.equal(w1, w2)
        differs |= not all(
            torch.equal(a, b) for a, b in zip(model.parameters(), model2.parameters())
        )
    assert differs


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_with_same_seed(name):
    model_a, _, _, hist_a = run(name, 3, seed=5)
    model_b, _, _, hist_b = run(name, 3, seed=5)
    for (wa, _), (wb, _) in zip(hist_a, hist_b):
        assert torch.equal(wa, wb)
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "pcgrad"])
def test_returned_weights_are_the_weights_applied(name):
    """Model gradients equal ∇ Σ wᵢ·Lᵢ for the returned w (PCGrad changes the trunk: excluded)."""
    model = make_model(2)
    balancer = make_balancer(name, TASKS)
    optimizer = make_optimizer(model, balancer)
    for step in range(3):
        batch = make_batch(step)
        snapshot = copy.deepcopy(model)
        weights, grads = full_step(model, balancer, optimizer, batch, step)
        expected = brute_force_weighted_grads(snapshot, batch, weights)
        for n, _ in model.named_parameters():
            if n.startswith("log_sigma"):
                continue
            scale = float(expected[n].abs().max()) + 1e-12
            torch.testing.assert_close(grads[n], expected[n], rtol=1e-4, atol=1e-5 * scale)


def float64_param(name: str):
    return name


@pytest.mark.parametrize("name", [float64_param(n) for n in NAMES])
def test_runs_on_a_float64_model(name):
    model = make_model(0, torch.float64)
    balancer = make_balancer(name, TASKS)
    optimizer = make_optimizer(model, balancer)
    for step in range(2):
        weights, _ = full_step(model, balancer, optimizer, make_batch(step, torch.float64), step)
        assert bool(torch.isfinite(weights).all())


def test_unknown_balancer_lists_every_valid_name():
    with pytest.raises(ConfigError, match=r"unknown balancer 'nope'") as info:
        make_balancer("nope", TASKS)
    for name in BALANCERS:
        assert name in str(info.value)
    assert set(BALANCERS) == {
        "static",
        "legacy",
        "uncertainty",
        "gradnorm",
        "pcgrad",
        "famo",
        "trunknorm",
    }


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_rejected(name):
    with pytest.raises(ConfigError, match=rf"bad options for balancer '{name}'.*not_an_option"):
        make_balancer(name, TASKS, not_an_option=1)


@pytest.mark.parametrize(
    ("name", "options", "pattern"),
    [
        ("static", {"weights": [1.0, 1.0, 1.0]}, r"expected 4 weights, got 3"),
        ("static", {"weights": [1.0, -1.0, 1.0, 1.0]}, r"finite and >= 0"),
        ("static", {"weights": [1.0, float("nan"), 1.0, 1.0]}, r"finite and >= 0"),
        ("trunknorm", {"refresh_every": 0}, r"refresh_every must be >= 1, got 0"),
        ("trunknorm", {"refresh_every": -3}, r"refresh_every must be >= 1, got -3"),
    ],
)
def test_bad_option_values_rejected(name, options, pattern):
    with pytest.raises(ConfigError, match=pattern):
        make_balancer(name, TASKS, **options)


@pytest.mark.parametrize("name", ["gradnorm", "famo"])
def test_bad_learning_rate_raises_config_error(name):
    with pytest.raises(ConfigError):
        make_balancer(name, TASKS, lr=-0.1)


def test_legacy_rejects_momentum_outside_unit_interval():
    with pytest.raises(ConfigError):
        make_balancer("legacy", TASKS, momentum=1.5)


# ---------------------------------------------------------------- static


def test_static_weights_are_priorities_and_gradient_is_weighted_sum():
    # dyadic priorities: exact in float32, so the comparison can be tight
    tasks = make_tasks(priorities=[0.125, 0.5, 0.25, 0.125])
    model = make_model(3, torch.float64)
    balancer = make_balancer("static", tasks)
    batch = make_batch(0, torch.float64, tasks)
    snapshot = copy.deepcopy(model)
    losses, trunk_out = forward(model, *batch, tasks)
    weights = balancer.backward(losses, StepContext(model, trunk_out, 0))
    assert weights.tolist() == [0.125, 0.5, 0.25, 0.125]
    assert make_balancer("static", TASKS).weights.tolist() == pytest.approx([0.1, 0.7, 0.1, 0.1])
    # Independent gradient of Σ pᵢ·Lᵢ
    losses2, _ = forward(snapshot, *batch, tasks)
    (0.125 * losses2[0] + 0.5 * losses2[1] + 0.25 * losses2[2] + 0.125 * losses2[3]).backward()
    for (n, p), q in zip(model.named_parameters(), snapshot.parameters()):
        if q.grad is None:
            assert p.grad is None, n
        else:
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-9, atol=1e-15)


def test_static_custom_weights():
    balancer = make_balancer("static", TASKS, weights=[1, 2, 3, 0])
    model = make_model(0)
    losses, trunk_out = forward(model, *make_batch(0))
    weights = balancer.backward(losses, StepContext(model, trunk_out, 0))
    assert weights.tolist() == [1.0, 2.0, 3.0, 0.0]


# ---------------------------------------------------------------- legacy


def test_legacy_first_step_weights_are_priority_over_loss():
    model = make_model(4, torch.float64)
    balancer = make_balancer("legacy", TASKS)
    losses, trunk_out = forward(model, *make_batch(0, torch.float64))
    values = losses.detach().tolist()
    weights = balancer.backward(losses, StepContext(model, trunk_out, 0))
    expected = [p / v for p, v in zip([0.1, 0.7, 0.1, 0.1], values)]
    torch.testing.assert_close(
        weights.double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-6, atol=0
    )


def test_legacy_running_mean_warmup_then_ema():
    balancer = make_balancer("legacy", TASKS, warmup_steps=2, momentum=0.5)
    seq = [
        torch.tensor([1.0, 2.0, 4.0, 8.0]),
        torch.tensor([3.0, 2.0, 0.0, 0.0]),
        torch.tensor([6.0, 6.0, 6.0, 6.0]),
    ]
    means = [balancer.normalizers(v) for v in seq]
    # warm-up: arithmetic mean; then m = 0.5·m + 0.5·L
    assert means[0] == [1.0, 2.0, 4.0, 8.0]
    assert means[1] == [2.0, 2.0, 2.0, 4.0]
    assert means[2] == [4.0, 4.0, 4.0, 5.0]


def test_legacy_invariant_to_scaling_one_loss():
    """Dividing by the running mean cancels any constant factor on a task's loss."""
    factor = torch.tensor([1.0, 1.0, 1.0, 100.0], dtype=torch.float64)
    model_a = make_model(6, torch.float64)
    model_b = copy.deepcopy(model_a)
    bal_a = make_balancer("legacy", TASKS, warmup_steps=1)
    bal_b = make_balancer("legacy", TASKS, warmup_steps=1)
    opt_a = torch.optim.SGD(model_a.parameters(), lr=0.05)
    opt_b = torch.optim.SGD(model_b.parameters(), lr=0.05)
    for step in range(3):  # covers warm-up and EMA steps
        batch = make_batch(step, torch.float64)
        grads = []
        for model, bal, opt, f in ((model_a, bal_a, opt_a, None), (model_b, bal_b, opt_b, factor)):
            opt.zero_grad(set_to_none=True)
            losses, trunk_out = forward(model, *batch)
            if f is not None:
                losses = losses * f
            bal.backward(losses, StepContext(model, trunk_out, step))
            grads.append([p.grad.clone() for p in model.trunk_parameters()])
            opt.step()
        for ga, gb in zip(*grads):
            torch.testing.assert_close(gb, ga, rtol=1e-9, atol=1e-14)
    assert bal_b.running_means["countdown"] == pytest.approx(100 * bal_a.running_means["countdown"])


def test_static_is_not_invariant_to_scaling_one_loss():
    """Control for the legacy test: without normalisation the scaled loss dominates."""
    model = make_model(6, torch.float64)
    batch = make_batch(0, torch.float64)
    grads = []
    for f in (1.0, 100.0):
        model.zero_grad(set_to_none=True)
        losses, trunk_out = forward(model, *batch)
        losses = losses * torch.tensor([f, 1.0, 1.0, f], dtype=torch.float64)
        make_balancer("static", TASKS).backward(losses, StepContext(model, trunk_out, 0))
        grads.append(trunk_grad(model))
    a, b = grads
    assert float(b.norm()) > 2 * float(a.norm())
    assert float(a @ b / (a.norm() * b.norm())) < 0.999  # the direction moves, too


# ---------------------------------------------------------------- famo


@pytest.mark.parametrize("task_index", [0, 3])
def test_famo_direction_invariant_to_scaling_a_loss(task_index):
    factor = torch.ones(4, dtype=torch.float64)
    factor[task_index] = 100.0
    model_a = make_model(7, torch.float64)
    model_b = copy.deepcopy(model_a)
    bal_a = make_balancer("famo", TASKS)
    bal_b = make_balancer("famo", TASKS)
    for step in range(3):
        batch = make_batch(step, torch.float64)
        directions = []
        for model, bal, f in ((model_a, bal_a, None), (model_b, bal_b, factor)):
            model.zero_grad(set_to_none=True)
            losses, trunk_out = forward(model, *batch)
            if f is not None:
                losses = losses * f
            bal.backward(losses, StepContext(model, trunk_out, step))
            directions.append(trunk_grad(model))
            with torch.no_grad():  # a fixed-size step along the direction, same for both
                size = trunk_grad(model).norm()
                for p in model.parameters():
                    if p.grad is not None:
                        p -= 0.01 * p.grad / size
                after, _ = forward(model, *batch)
            bal.after_step(after * f if f is not None else after)
        a, b = directions
        cosine = float(a @ b / (a.norm() * b.norm()))
        assert cosine == pytest.approx(1.0, abs=1e-6)


def test_famo_first_step_weights_follow_priorities():
    model = make_model(8, torch.float64)
    balancer = make_balancer("famo", TASKS)
    losses, trunk_out = forward(model, *make_batch(0, torch.float64))
    L = losses.detach()
    weights = balancer.backward(losses, StepContext(model, trunk_out, 0))
    # z = priorities (softmax of log p with Σp = 1); w = c·z/L, c = 1/Σ(z/L)
    z = torch.tensor([0.1, 0.7, 0.1, 0.1], dtype=torch.float64)
    expected = (z / L) / (z / L).sum()
    torch.testing.assert_close(weights, expected, rtol=1e-6, atol=0)


# ---------------------------------------------------------------- uncertainty


def test_uncertainty_weights_and_log_sigma_gradients():
    model = make_model(9, torch.float64)
    balancer = make_balancer("uncertainty", TASKS)
    batch = make_batch(0, torch.float64)
    rel = [0.4, 2.8, 0.4, 0.4]  # priority / mean priority (mean 0.25)
    c = [1.0, 0.5, 1.0, 0.5]  # classification (type, binary) 1, regression ½

    # At the model's initial log-sigmas (0, -0.3, 0, 0): 0.4, 2.8·½·e^{0.6}, 0.4, 0.4·½
    losses, trunk_out = forward(model, *batch)
    weights = balancer.backward(losses, StepContext(model, trunk_out, 0))
    initial = [0.4, 1.4 * math.exp(0.6), 0.4, 0.2]
    torch.testing.assert_close(
        weights.double(), torch.tensor(initial, dtype=torch.float64), rtol=1e-6, atol=0
    )

    log_sigmas = [0.3, -1.0, 0.7, -0.2]
    with torch.no_grad():
        for task, s in zip(TASKS.names, log_sigmas):
            model.log_sigma(task).fill_(s)
    model.zero_grad(set_to_none=True)
    losses, trunk_out = forward(model, *batch)
    L = losses.detach().tolist()
    weights = balancer.backward(losses, StepContext(model, trunk_out, 0))
    expected = [r * k * math.exp(-2 * s) for r, k, s in zip(rel, c, log_sigmas)]
    torch.testing.assert_close(
        weights.double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-6, atol=0
    )
    # d/ds [r·(c·e^{-2s}·L + s)] = r·(1 − 2·c·e^{-2s}·L)
    for task, r, k, s, loss in zip(TASKS.names, rel, c, log_sigmas, L):
        grad = model.log_sigma(task).grad
        assert grad is not None, task
        assert float(grad) == pytest.approx(r * (1 - 2 * k * math.exp(-2 * s) * loss), rel=1e-5)


# ---------------------------------------------------------------- gradnorm


def last_layer_norms(model, batch):
    losses, _ = forward(model, *batch)
    trunk = model.trunk_parameters()
    out = []
    for i in range(4):
        grads = torch.autograd.grad(losses[i], trunk, retain_graph=True)
        out.append(torch.cat([g.reshape(-1) for g in grads]).norm())
    return torch.stack(out)


def test_gradnorm_first_update_hand_worked():
    """Step 0: L = L(0), so r = 1 and targetᵢ = mean(G)·pᵢ/mean(p). Adam's first step is
    lr·sign(grad), then clamp at 1e-6 and rescale to Σ priorities."""
    lr = 0.025
    model = make_model(10)  # one LSTM layer: the last shared layer is the whole trunk
    balancer = make_balancer("gradnorm", TASKS, lr=lr)
    batch = make_batch(0)
    prio = torch.tensor([0.1, 0.7, 0.1, 0.1])
    norms = last_layer_norms(model, batch)
    losses, trunk_out = forward(model, *batch)
    weights = balancer.backward(losses, StepContext(model, trunk_out, 0))
    torch.testing.assert_close(weights, prio)
    weighted = prio * norms
    target = weighted.mean() * prio / prio.mean()
    expected = (prio - lr * torch.sign(weighted - target)).clamp(min=1e-6)
    expected = expected * prio.sum() / expected.sum()
    torch.testing.assert_close(balancer.weights.detach(), expected, rtol=1e-4, atol=0)


def test_gradnorm_weights_sum_to_priorities_and_move_toward_equal_weighted_norms():
    model = make_model(10)
    balancer = make_balancer("gradnorm", TASKS, lr=0.005)
    batch = make_batch(0)
    prio = torch.tensor([0.1, 0.7, 0.1, 0.1])
    norms = last_layer_norms(model, batch)

    def spread(w):
        ratio = w * norms / prio  # target: weighted norm ∝ priority (r = 1 on a fixed batch)
        return float(ratio.max() / ratio.min())

    spreads = [spread(prio)]
    assert spreads[0] > 10  # far from balanced: the test is not vacuous
    for step in range(12):  # same batch, no model update: norms and losses stay fixed
        model.zero_grad(set_to_none=True)
        losses, trunk_out = forward(model, *batch)
        weights = balancer.backward(losses, StepContext(model, trunk_out, step))
        current = balancer.weights.detach()
        assert float(weights.sum()) == pytest.approx(1.0, rel=1e-5)
        assert float(current.sum()) == pytest.approx(1.0, rel=1e-5)
        assert bool((current > 0).all())
        spreads.append(spread(current))
    # every update brings the weighted norms closer to proportion (far from the optimum)
    assert all(b < a for a, b in itertools.pairwise(spreads)), spreads
    assert spreads[-1] < 0.75 * spreads[0]


def test_gradnorm_first_step_returns_priorities():
    model = make_model(11)
    balancer = make_balancer("gradnorm", TASKS)
    losses, trunk_out = forward(model, *make_batch(0))
    weights = balancer.backward(losses, StepContext(model, trunk_out, 0))
    torch.testing.assert_close(weights, torch.tensor([0.1, 0.7, 0.1, 0.1]))


# ---------------------------------------------------------------- pcgrad


def test_project_conflicting_two_tasks_hand_worked():
    g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=torch.float64)
    out = project_conflicting(g, torch.Generator().manual_seed(0))
    # g1 − (g1·g2/|g2|²)·g2 = [1,0] + ½[−1,1] = [½, ½];  g2 − (g1·g2/|g1|²)·g1 = [0, 1]
    torch.testing.assert_close(out, torch.tensor([[0.5, 0.5], [0.0, 1.0]], dtype=torch.float64))
    assert float(out[0] @ g[1]) >= -1e-12
    assert float(out[1] @ g[0]) >= -1e-12


def test_project_conflicting_leaves_non_conflicting_pairs_unchanged():
    # pairwise dots 1, 2 and 1: no conflict anywhere
    g = torch.tensor([[1.0, 0.0, 2.0], [1.0, 1.0, 0.0], [0.0, 1.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(project_conflicting(g), g, rtol=0, atol=0)
    torch.testing.assert_close(project_conflicting(g[:2]), g[:2], rtol=0, atol=0)
    orthogonal = torch.eye(3, dtype=torch.float64) * torch.tensor([[1.0], [2.0], [3.0]])
    torch.testing.assert_close(project_conflicting(orthogonal), orthogonal, rtol=0, atol=0)


@settings(max_examples=25, deadline=None)
@given(
    a=st.lists(FINITE, min_size=6, max_size=6),
    b=st.lists(FINITE, min_size=6, max_size=6),
    seed=st.integers(0, 1000),
)
def test_project_conflicting_two_tasks_properties(a, b, seed):
    g = torch.tensor([a, b], dtype=torch.float64)
    if float(g[0].norm()) < 1e-3 or float(g[1].norm()) < 1e-3:
        return
    out = project_conflicting(g, torch.Generator().manual_seed(seed))
    dot = float(g[0] @ g[1])
    for i, j in ((0, 1), (1, 0)):
        if dot >= 0:
            torch.testing.assert_close(out[i], g[i], rtol=0, atol=0)
        else:
            # non-negative (zero up to rounding) dot with the other task's original gradient
            assert float(out[i] @ g[j]) >= -1e-9 * float(g[i].norm() * g[j].norm())
            assert float(out[i].norm()) <= float(g[i].norm()) + 1e-12


@settings(max_examples=25, deadline=None)
@given(
    first=st.lists(FINITE, min_size=5, max_size=5),
    scales=st.lists(st.floats(0.1, 10), min_size=4, max_size=4),
    seed=st.integers(0, 1000),
)
def test_project_conflicting_many_tasks(first, scales, seed):
    """T = 5 tasks. Rows 1..4 are positive multiples of distinct axes (mutually orthogonal),
    so row 0's projections commute: its conflicting components are removed whatever the
    order, and every negative cosine with another task's original becomes zero."""
    g = torch.zeros(5, 5, dtype=torch.float64)
    g[0] = torch.tensor(first, dtype=torch.float64)
    for k, s in enumerate(scales, start=1):
        g[k, k] = s
    out = project_conflicting(g, torch.Generator().manual_seed(seed))
    expected0 = g[0].clone()
    expected0[1:] = expected0[1:].clamp(min=0.0)
    torch.testing.assert_close(out[0], expected0, rtol=0, atol=1e-12)
    for j in range(1, 5):
        before = float(g[0] @ g[j])
        after = float(out[0] @ g[j])
        if before < 0:
            assert after > before
            assert after >= -1e-12
    # projections onto normal planes never lengthen a gradient
    for i in range(5):
        assert float(out[i].norm()) <= float(g[i].norm()) + 1e-12


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(st.lists(FINITE, min_size=6, max_size=6), min_size=4, max_size=4),
    seed=st.integers(0, 1000),
)
def test_project_conflicting_general_properties(rows, seed):
    """Any T: a task that conflicts with no other is left alone; norms never grow."""
    g = torch.tensor(rows, dtype=torch.float64)
    out = project_conflicting(g, torch.Generator().manual_seed(seed))
    dots = g @ g.T
    for i in range(4):
        assert float(out[i].norm()) <= float(g[i].norm()) * (1 + 1e-12) + 1e-12
        if all(float(dots[i, j]) >= 0 for j in range(4) if j != i):
            torch.testing.assert_close(out[i], g[i], rtol=0, atol=0)


def test_pcgrad_balancer_trunk_grad_is_projected_sum():
    model = make_model(12, torch.float64)
    balancer = make_balancer("pcgrad", TASKS, seed=3)
    generator = torch.Generator().manual_seed(3)  # same stream as the balancer's
    batch = make_batch(0, torch.float64)
    # Independent per-task trunk gradients (priority-weighted), by plain autograd.
    losses, _ = forward(model, *batch)
    trunk = model.trunk_parameters()
    prio = TASKS.priorities().tolist()  # the balancer's float32 priorities
    flat = torch.stack(
        [
            prio[i]
            * torch.cat(
                [g.reshape(-1) for g in torch.autograd.grad(losses[i], trunk, retain_graph=True)]
            )
            for i in range(4)
        ]
    )
    expected = project_conflicting(flat, generator).sum(dim=0)
    model.zero_grad(set_to_none=True)
    losses, trunk_out = forward(model, *batch)
    weights = balancer.backward(losses, StepContext(model, trunk_out, 0))
    torch.testing.assert_close(weights, torch.tensor(prio))
    torch.testing.assert_close(trunk_grad(model), expected, rtol=1e-9, atol=1e-14)
    cos = flat @ flat.T / (flat.norm(dim=1)[:, None] * flat.norm(dim=1)[None, :])
    if bool((cos < 0).any()):  # conflicts existed: PCGrad must differ from the plain sum
        assert not torch.allclose(expected, flat.sum(dim=0))


# ---------------------------------------------------------------- trunknorm


def test_trunknorm_refresh_step_equalises_norm_per_priority():
    model = make_model(13, torch.float64)
    balancer = make_balancer("trunknorm", TASKS, refresh_every=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    refreshed = 0
    for step in range(5):
        batch = make_batch(step, torch.float64)
        optimizer.zero_grad(set_to_none=True)
        losses, trunk_out = forward(model, *batch)
        weights = balancer.backward(losses, StepContext(model, trunk_out, step))
        report = probe_gradients(model, batch[0], batch[1], TASKS, weights)
        if balancer.last_step_refreshed:
            refreshed += 1
            assert float(report.spread) <= 1.0 + 1e-5
            # The budget is redistributed, not resized: Σ wᵢnᵢ = Σ pᵢnᵢ.
            priorities = TASKS.priorities().double()
            budget = float((priorities * report.raw_trunk_grad_norm).sum())
            assert float(report.trunk_grad_norm.sum()) == pytest.approx(budget, rel=1e-6)
        optimizer.step()
    assert refreshed == 3  # steps 0, 2 and 4


def test_trunknorm_caps_the_weight_of_a_task_whose_gradient_vanished():
    balancer = make_balancer("trunknorm", TASKS)
    norms = torch.tensor([0.2, 0.0, 0.1, 1e-4])  # pointers: a saturated sigmoid, no gradient
    weights = balancer.weights_from_norms(norms)
    priorities = TASKS.priorities()
    scale = float((priorities * norms).sum() / priorities.sum())
    assert torch.isfinite(weights).all()
    assert float(weights[1]) == pytest.approx(float(priorities[1]) / 1e-6, rel=1e-5)
    # the live tasks keep exactly their priority share of the budget
    live = [0, 2, 3]
    torch.testing.assert_close(weights[live] * norms[live], priorities[live] * scale)


@pytest.mark.parametrize(
    ("refresh_every", "pattern"),
    [
        (1, [True] * 7),
        (3, [True, False, False, True, False, False, True]),
        (10, [True] + [False] * 6),
    ],
)
def test_trunknorm_refresh_schedule(refresh_every, pattern):
    model = make_model(14)
    balancer = make_balancer("trunknorm", TASKS, refresh_every=refresh_every)
    seen = []
    for step in range(7):
        model.zero_grad(set_to_none=True)
        losses, trunk_out = forward(model, *make_batch(step))
        assert balancer.will_refresh() == pattern[step]
        balancer.backward(losses, StepContext(model, trunk_out, step))
        seen.append(balancer.last_step_refreshed)
    assert seen == pattern


def test_trunknorm_refresh_weights_are_priority_over_trunk_norm():
    model = make_model(15, torch.float64)
    balancer = make_balancer("trunknorm", TASKS)
    batch = make_batch(0, torch.float64)
    norms = last_layer_norms(model, batch)  # one layer: the whole trunk
    prio = torch.tensor([0.1, 0.7, 0.1, 0.1], dtype=torch.float64)
    scale = (prio * norms).sum() / prio.sum()  # the budget of plain priority weights
    expected = prio * scale / norms
    losses, trunk_out = forward(model, *batch)
    weights = balancer.backward(losses, StepContext(model, trunk_out, 0))
    assert balancer.last_step_refreshed
    torch.testing.assert_close(weights, expected, rtol=1e-6, atol=0)
