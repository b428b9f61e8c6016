"""Every loss balancer against the Balancer contract: finite weights and grads, state round trips, determinism, the weights returned are the weights applied, float64, named errors."""

from __future__ import annotations

import copy
import io

import pytest
import torch

from moola.balancing import BALANCERS, make_balancer
from moola.errors import ConfigError
from tests.helpers.balancing import (
    NAMES,
    TASKS,
    brute_force_weighted_grads,
    full_step,
    make_batch,
    make_model,
    make_optimizer,
    run,
    task_params,
)


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
    assert str(info.value) == (
        "unknown balancer 'nope'; valid balancers are: "
        "famo, gradnorm, legacy, pcgrad, static, trunknorm, uncertainty"
    )
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


@pytest.mark.parametrize("name", NAMES)
def test_every_hook_the_step_calls_is_declared_on_the_base_class(name):
    """The train step calls only hooks that Balancer declares (no getattr probing)."""
    from moola.balancing import Balancer

    balancer = make_balancer(name, TASKS)
    for hook in ("backward", "after_step", "parameters", "step_variant", "advance_host_state"):
        assert hasattr(Balancer, hook), hook
        assert callable(getattr(balancer, hook)), hook
    variant = balancer.step_variant()
    hash(variant)  # graph keys must be hashable
    balancer.advance_host_state(variant)  # must not fail outside a captured step


def test_trunknorm_variant_is_its_refresh_and_advance_replays_the_bookkeeping():
    balancer = make_balancer("trunknorm", TASKS, refresh_every=2)
    assert balancer.step_variant() is True  # no gain measured yet: the first step refreshes
    balancer.advance_host_state(True)
    assert balancer.step_variant() is False and balancer.steps_since_refresh == 1
    balancer.advance_host_state(False)
    assert balancer.step_variant() is True
    state = balancer.state_dict()  # the host counters travel with the state, not vars()
    assert {"has_gain", "steps_since_refresh"} <= set(state)


def test_the_torch_free_names_are_the_registrys() -> None:
    """``moola.balancing.names`` gives the command line's help its names without torch; they
    must be the registry's, in its order."""
    from moola.balancing.names import BALANCER_NAMES, DEFAULT_BALANCER

    assert tuple(BALANCERS) == BALANCER_NAMES
    assert DEFAULT_BALANCER in BALANCERS
