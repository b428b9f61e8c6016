"""Brute-force gradients by plain autograd, one backward per task, to hold the probe and the
balancers' fast paths to."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch

from moola.models import JadeCompact
from moola.tasks import TaskSet


def per_task_grads(
    model: JadeCompact,
    x: torch.Tensor,
    targets: Mapping[str, torch.Tensor],
    tasks: TaskSet,
    weights: Sequence[float],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per task: a fresh forward, zero grads, (wᵢ·Lᵢ).backward(); returns the stacked
    flattened LSTM (trunk) gradients and the gradients on the trunk output. The model's
    ``.grad`` is left as it was."""
    trunk_grads, rep_grads = [], []
    saved = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    for i, task in enumerate(tasks):
        model.zero_grad(set_to_none=True)
        trunk_out = model.encode(x)
        out = model.decode(trunk_out)
        loss = weights[i] * task.loss(out[task.output_key], targets[task.name])
        (rep,) = torch.autograd.grad(loss, trunk_out, retain_graph=True)
        rep_grads.append(rep.reshape(-1).clone())
        loss.backward()
        trunk_grads.append(torch.cat([p.grad.reshape(-1).clone() for p in model.lstm.parameters()]))
    for p, g in zip(model.parameters(), saved):
        p.grad = g
    return torch.stack(trunk_grads), torch.stack(rep_grads)


def weighted_grads(
    model: JadeCompact,
    x: torch.Tensor,
    targets: Mapping[str, torch.Tensor],
    tasks: TaskSet,
    weights: torch.Tensor,
) -> dict[str, torch.Tensor | None]:
    """∇ Σ wᵢ·Lᵢ on a copy of the model, by plain autograd."""
    clone = copy.deepcopy(model)
    clone.zero_grad(set_to_none=True)
    trunk_out = clone.encode(x)
    losses = tasks.losses(clone.decode(trunk_out), targets)
    (weights.detach().to(losses.dtype) * losses).sum().backward()
    return {n: p.grad for n, p in clone.named_parameters()}
