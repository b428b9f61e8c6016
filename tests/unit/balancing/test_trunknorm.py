"""trunknorm (the default): each task's trunk-gradient norm in proportion to its priority."""

from __future__ import annotations

import pytest
import torch

from moola.balancing import StepContext, make_balancer
from moola.probe import probe_gradients
from tests.helpers.balancing import (
    TASKS,
    forward,
    last_layer_norms,
    make_batch,
    make_model,
)


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


def rep_norms(model, batch):
    """‖∂Lᵢ/∂h‖ per task, by plain autograd on the trunk output h."""
    losses, trunk_out = forward(model, *batch)
    return torch.stack(
        [torch.autograd.grad(losses[i], trunk_out, retain_graph=True)[0].norm() for i in range(4)]
    )


def test_trunknorm_between_refreshes_scales_the_head_gradients_by_the_kept_gain():
    """A refresh measures κᵢ = ‖∇_trunk Lᵢ‖ / ‖∂Lᵢ/∂h‖; the next steps estimate the trunk norm
    as κᵢ·‖∂Lᵢ/∂h‖ on their own batch and weight by it."""
    model = make_model(16, torch.float64)
    balancer = make_balancer("trunknorm", TASKS, refresh_every=5)
    prio = torch.tensor([0.1, 0.7, 0.1, 0.1], dtype=torch.float64)
    first, second = make_batch(0, torch.float64), make_batch(1, torch.float64)
    kappa = last_layer_norms(model, first) / rep_norms(model, first)  # one layer: whole trunk
    losses, trunk_out = forward(model, *first)
    balancer.backward(losses, StepContext(model, trunk_out, 0))
    assert balancer.last_step_refreshed
    torch.testing.assert_close(balancer.gain.double(), kappa, rtol=1e-5, atol=0)

    estimate = kappa * rep_norms(model, second)  # the model did not move: same κ
    scale = (prio * estimate).sum() / prio.sum()
    model.zero_grad(set_to_none=True)
    losses, trunk_out = forward(model, *second)
    weights = balancer.backward(losses, StepContext(model, trunk_out, 1))
    assert not balancer.last_step_refreshed
    torch.testing.assert_close(weights.double(), prio * scale / estimate, rtol=1e-5, atol=0)
    torch.testing.assert_close(balancer.gain.double(), kappa, rtol=1e-5, atol=0)  # kept


def test_trunknorm_weights_with_priorities_that_do_not_sum_to_one():
    """wᵢ = pᵢ·c/nᵢ with c = Σ pⱼnⱼ / Σ pⱼ: worked by hand for priorities summing to 2 (with
    the default priorities Σp = 1, dividing and multiplying by it coincide)."""
    from moola.tasks import make_tasks

    balancer = make_balancer("trunknorm", make_tasks(priorities=[0.2, 1.4, 0.2, 0.2]))
    weights = balancer.weights_from_norms(torch.tensor([1.0, 2.0, 4.0, 8.0]))
    # Σ pn = 0.2 + 2.8 + 0.8 + 1.6 = 5.4, Σ p = 2: c = 2.7
    assert weights.tolist() == pytest.approx([0.54, 1.89, 0.135, 0.0675], rel=1e-6)


def test_trunknorm_keeps_the_gain_of_a_task_whose_representation_gradient_is_at_eps():
    """κ is measured only where ‖∂Lᵢ/∂h‖ exceeds eps (else it is 0/0); at exactly eps the
    last gain is kept. Losses built on one element of h make the norms exact."""
    model = make_model(17)
    balancer = make_balancer("trunknorm", TASKS, eps=0.5)
    trunk_out = model.encode(make_batch(0)[0])
    h = trunk_out[0, -1, 0]
    losses = torch.stack([2.0 * h, 0.5 * h, 1.0 * h, 4.0 * h])  # rep norms 2, 0.5, 1, 4
    balancer.backward(losses, StepContext(model, trunk_out, 0))
    assert balancer.gain[1] == 1.0  # at eps: not measured, the initial gain kept
    assert balancer.gain[0] != 1.0 and balancer.gain[2] != 1.0
    # κ = trunk norm / rep norm is the same for losses that differ only by a factor
    torch.testing.assert_close(balancer.gain[0], balancer.gain[3])
    torch.testing.assert_close(balancer.gain[0], balancer.gain[2])


def test_trunknorm_defaults_bounds_and_fresh_state():
    from moola.balancing.trunknorm import TrunkNormBalancer
    from moola.errors import ConfigError

    fresh = TrunkNormBalancer(TASKS)
    assert fresh.refresh_every == 10 and fresh.dead_fraction == 1e-6 and fresh.eps == 1e-30
    assert fresh.last_step_refreshed is False
    state = fresh.state_dict()
    assert state["has_gain"] is False and state["steps_since_refresh"] == 0
    assert state["gain"].tolist() == [1.0] * 4
    for bad in (0.0, 1.0, -0.5):
        with pytest.raises(
            ConfigError, match=rf"^trunknorm: dead_fraction must be in \(0, 1\), got {bad}$"
        ):
            TrunkNormBalancer(TASKS, dead_fraction=bad)
    assert TrunkNormBalancer(TASKS, dead_fraction=0.999).dead_fraction == 0.999
    assert TrunkNormBalancer(TASKS, refresh_every=1).refresh_every == 1
