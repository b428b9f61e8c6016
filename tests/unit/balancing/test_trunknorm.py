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
