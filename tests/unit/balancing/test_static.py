"""Static weights: the priorities, and the gradient of the weighted sum."""

from __future__ import annotations

import copy

import pytest
import torch

from moola.balancing import StepContext, make_balancer
from moola.tasks import make_tasks
from tests.helpers.balancing import (
    TASKS,
    forward,
    make_batch,
    make_model,
)


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
