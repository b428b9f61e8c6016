"""Per-task gradients, taken at the shared representation first.

Every task reaches the trunk through the same tensor, the LSTM output. Taking each task's
gradient there costs only a backward pass through its (small) head; one vector-Jacobian
product through the trunk then turns any combination of them into trunk gradients. This is
what keeps measured balancing cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from moola.balancing.base import StepContext

Grads = list[torch.Tensor | None]


def representation_grads(losses: torch.Tensor, ctx: StepContext) -> list[torch.Tensor]:
    """∂Lᵢ/∂(shared representation) for each task. The graph is kept.

    With split task inputs this is one backward pass through all heads; otherwise one pass
    per task.
    """
    if ctx.task_inputs is not None:
        return list(torch.autograd.grad(losses.sum(), ctx.task_inputs, retain_graph=True))
    rep_grads = []
    for i in range(losses.shape[0]):
        (grad,) = torch.autograd.grad(
            losses[i], ctx.trunk_out, retain_graph=True, allow_unused=True
        )
        rep_grads.append(grad if grad is not None else torch.zeros_like(ctx.trunk_out))
    return rep_grads


def head_backward(losses: torch.Tensor, weights: torch.Tensor, ctx: StepContext) -> None:
    """Σᵢ wᵢ·∂Lᵢ/∂θ into ``.grad`` of the head parameters only (the trunk is done separately).
    The balancers call it last: the heads' graph is freed."""
    (weights.detach() * losses).sum().backward(inputs=ctx.head_params)


def trunk_backward(
    rep_grads: Sequence[torch.Tensor], weights: torch.Tensor, ctx: StepContext
) -> None:
    """One backward pass through the trunk with Σᵢ wᵢ·∂Lᵢ/∂h."""
    combined = rep_grads[0] * weights[0]
    for w, g in zip(weights[1:], rep_grads[1:]):
        combined = combined + w * g
    torch.autograd.backward(ctx.trunk_out, combined)


def trunk_grads(
    trunk_out: torch.Tensor,
    rep_grads: Sequence[torch.Tensor],
    trunk_params: Sequence[torch.Tensor],
    *,
    retain_last: bool = False,
) -> list[Grads]:
    """Trunk-parameter gradient of each task, from its representation gradient (one VJP each)."""
    out: list[Grads] = []
    for i, g in enumerate(rep_grads):
        retain = retain_last or i < len(rep_grads) - 1
        out.append(
            list(
                torch.autograd.grad(
                    trunk_out, trunk_params, g, retain_graph=retain, allow_unused=True
                )
            )
        )
    return out


def combine(per_task: Sequence[Grads], weights: torch.Tensor) -> Grads:
    """Σᵢ wᵢ·gradsᵢ, parameter by parameter (None where no task touches a parameter)."""
    combined: Grads = []
    for param_idx in range(len(per_task[0])):
        total: torch.Tensor | None = None
        for task_idx, grads in enumerate(per_task):
            g = grads[param_idx]
            if g is None:
                continue
            term = weights[task_idx] * g
            total = term if total is None else total + term
        combined.append(total)
    return combined


def accumulate(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor | None]) -> None:
    """Add ``grads`` into ``param.grad`` the way ``backward()`` would."""
    for p, g in zip(params, grads):
        if g is None:
            continue
        if p.grad is None:
            p.grad = g.detach().clone()
        else:
            p.grad.add_(g.detach())


def flatten(grads: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor]) -> torch.Tensor:
    """One flat vector (zeros for unused parameters)."""
    return torch.cat(
        [(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, like)]
    )


def unflatten(flat: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    out, offset = [], 0
    for p in like:
        n = p.numel()
        out.append(flat[offset : offset + n].view_as(p))
        offset += n
    return out


def stacked_norms(per_task: Sequence[Grads], like: Sequence[torch.Tensor]) -> torch.Tensor:
    """(T,) L2 norm of each task's gradient over ``like``."""
    return torch.stack([flatten(g, like).norm() for g in per_task])
