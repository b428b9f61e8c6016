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


def test_legacy_warmup_mean_then_ema_with_a_momentum_that_tells_them_apart():
    """Momentum 0.75, warm-up 3: the arithmetic mean over steps 1-3, the EMA from step 4. (At
    momentum 0.5 the EMA of two steps equals their mean, so a warm-up one step short or long
    would pass unseen.)"""
    balancer = make_balancer("legacy", TASKS, warmup_steps=3, momentum=0.75)
    seq = [[4.0, 8.0, 0.0, 2.0], [8.0, 0.0, 4.0, 2.0], [0.0, 4.0, 8.0, 2.0], [8.0, 8.0, 8.0, 10.0]]
    means = [balancer.normalizers(torch.tensor(v)) for v in seq]
    assert means[0] == [4.0, 8.0, 0.0, 2.0]
    assert means[1] == [6.0, 4.0, 2.0, 2.0]  # (4 + 8) / 2 ...
    assert means[2] == [4.0, 4.0, 4.0, 2.0]  # (2·6 + 0) / 3 ...
    assert means[3] == [5.0, 5.0, 5.0, 4.0]  # 0.75·4 + 0.25·8 ...
    assert balancer.step_count == 4


def test_legacy_without_warmup_starts_the_ema_at_once():
    balancer = make_balancer("legacy", TASKS, warmup_steps=0, momentum=0.75)
    assert balancer.normalizers(torch.tensor([4.0, 4.0, 4.0, 4.0])) == [4.0] * 4
    assert balancer.normalizers(torch.tensor([8.0, 0.0, 4.0, 4.0])) == [5.0, 3.0, 4.0, 4.0]


def test_legacy_leaves_a_vanished_loss_unnormalised():
    """A running mean at or below 1e-8 is not divided by: the task keeps its priority."""
    balancer = make_balancer("legacy", TASKS)
    losses = torch.tensor([0.0, 1e-8, 2e-8, 4.0], dtype=torch.float64, requires_grad=True)
    model = make_model(0, torch.float64)
    weights = balancer.backward(losses, StepContext(model, torch.zeros(1), 0))
    expected = [0.1, 0.7, 0.1 / 2e-8, 0.1 / 4.0]
    assert weights.tolist() == pytest.approx(expected, rel=1e-6)
    assert losses.grad is not None
    assert losses.grad.tolist() == pytest.approx(expected, rel=1e-6)  # the weights applied


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"momentum": 1.0}, r"^legacy: momentum must be in \[0, 1\), got 1\.0$"),
        ({"momentum": -0.01}, r"^legacy: momentum must be in \[0, 1\), got -0\.01$"),
        ({"warmup_steps": -1}, r"^legacy: warmup_steps must be >= 0, got -1$"),
    ],
)
def test_legacy_rejects_settings_out_of_range(options, message):
    from moola.balancing.legacy import LegacyNormalizerBalancer
    from moola.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        LegacyNormalizerBalancer(TASKS, **options)


def test_legacy_accepts_the_bounds_and_defaults():
    from moola.balancing.legacy import LegacyNormalizerBalancer

    edge = LegacyNormalizerBalancer(TASKS, momentum=0.0, warmup_steps=0)
    assert edge.momentum == 0.0 and edge.warmup_steps == 0
    default = LegacyNormalizerBalancer(TASKS)
    assert default.momentum == 0.95 and default.warmup_steps == 10
    assert default.running_means == {} and default.step_count == 0
