"""GradNorm: the hand-worked first update, and weights that move toward equal weighted norms."""

from __future__ import annotations

import itertools

import pytest
import torch

from moola.balancing import StepContext, make_balancer
from tests.helpers.balancing import (
    TASKS,
    forward,
    last_layer_norms,
    make_batch,
    make_model,
)


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
