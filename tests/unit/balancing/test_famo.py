"""FAMO: a direction invariant to the scale of a loss."""

from __future__ import annotations

import copy

import pytest
import torch

from moola.balancing import StepContext, make_balancer
from tests.helpers.balancing import (
    TASKS,
    forward,
    make_batch,
    make_model,
    trunk_grad,
)


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
