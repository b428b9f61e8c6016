"""The legacy LossNormalizer (the original's): priority over running-mean loss."""

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
