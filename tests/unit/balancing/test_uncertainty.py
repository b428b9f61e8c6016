"""Uncertainty weighting (Kendall et al.): weights exp(-2 log σ) and the log-σ gradients."""

from __future__ import annotations

import math

import pytest
import torch

from moola.balancing import StepContext, make_balancer
from tests.helpers.balancing import (
    TASKS,
    forward,
    make_batch,
    make_model,
)


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
