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


def test_famo_logit_updates_hand_worked():
    """Two steps: the logits descend Jᵀδ, δ the drop of each log-loss on the same batch and J
    the softmax Jacobian (Jᵀδ = z·(δ − z·δ)), through Adam with weight decay 0.001. Held to
    Adam run here on that gradient; the tasks' drops differ in size and sign, so a wrong
    sign, a log left out or the Jacobian's centring left out all give other logits."""
    from moola.balancing.famo import FAMOBalancer

    lr, decay = 0.025, 0.001
    balancer = FAMOBalancer(TASKS)  # the paper's defaults
    prio = torch.tensor([0.1, 0.7, 0.1, 0.1])
    reference = torch.nn.Parameter(prio.log())
    adam = torch.optim.Adam([reference], lr=lr, weight_decay=decay)
    model = make_model(8, torch.float64)
    steps = [
        ([2.0, 1.0, 0.5, 4.0], [1.0, 0.9, 0.6, 2.0]),  # type halves, binary rises
        ([1.5, 3.0, 0.25, 1.0], [1.4, 1.0, 0.25, 0.5]),
    ]
    for step, (before, after) in enumerate(steps):
        losses = torch.tensor(before, dtype=torch.float64, requires_grad=True)
        weights = balancer.backward(losses, StepContext(model, torch.zeros(1), step))
        z = torch.softmax(reference.detach(), dim=0)
        expected_weights = (z / losses.detach()) / (z / losses.detach()).sum()
        torch.testing.assert_close(weights, expected_weights.to(weights.dtype), rtol=1e-5, atol=0)
        balancer.after_step(torch.tensor(after, dtype=torch.float64))
        delta = torch.log(torch.tensor(before)) - torch.log(torch.tensor(after))
        reference.grad = z * (delta - (z * delta).sum())
        adam.step()
        torch.testing.assert_close(
            balancer.logits.detach(), reference.detach(), rtol=1e-5, atol=1e-7
        )
    # the task whose loss fell least (binary rose, then held) gained weight
    weights = balancer.task_weights()
    assert float(weights[2]) > 0.1


def test_famo_defaults_and_bounds():
    from moola.balancing.famo import FAMOBalancer
    from moola.errors import ConfigError

    famo = FAMOBalancer(TASKS)
    group = famo.optimizer.param_groups[0]
    assert group["lr"] == 0.025 and group["weight_decay"] == 0.001 and famo.eps == 1e-8
    torch.testing.assert_close(famo.task_weights(), torch.tensor([0.1, 0.7, 0.1, 0.1]))
    with pytest.raises(ConfigError, match=r"^famo: lr must be > 0, got 0$"):
        FAMOBalancer(TASKS, lr=0)
    with pytest.raises(ConfigError, match=r"^famo: weight_decay must be >= 0, got -0\.1$"):
        FAMOBalancer(TASKS, weight_decay=-0.1)
    assert FAMOBalancer(TASKS, weight_decay=0.0).optimizer.param_groups[0]["weight_decay"] == 0.0


def test_famo_uses_priorities_relative_to_their_sum():
    """Priorities that do not sum to 1 give the same first weights as their normalised form."""
    from moola.balancing.famo import FAMOBalancer
    from moola.tasks import make_tasks

    doubled = FAMOBalancer(make_tasks(priorities=[0.2, 1.4, 0.2, 0.2]))
    torch.testing.assert_close(doubled.logits.detach(), torch.tensor([0.1, 0.7, 0.1, 0.1]).log())


def test_famo_stays_finite_when_a_loss_vanishes():
    """ε keeps log(L + ε) and c·z/(L + ε) finite for a loss of exactly 0."""
    from moola.balancing.famo import FAMOBalancer

    balancer = FAMOBalancer(TASKS)
    model = make_model(8, torch.float64)
    losses = torch.tensor([0.0, 1.0, 2.0, 0.5], dtype=torch.float64, requires_grad=True)
    weights = balancer.backward(losses, StepContext(model, torch.zeros(1), 0))
    assert bool(torch.isfinite(weights).all())
    z = torch.tensor([0.1, 0.7, 0.1, 0.1], dtype=torch.float64)
    shifted = losses.detach() + 1e-8
    torch.testing.assert_close(weights, (z / shifted) / (z / shifted).sum(), rtol=1e-6, atol=0)
    balancer.after_step(torch.tensor([0.0, 0.5, 2.0, 0.25], dtype=torch.float64))
    assert bool(torch.isfinite(balancer.logits).all())
