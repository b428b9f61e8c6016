"""PCGrad: gradient surgery (Yu et al., NeurIPS 2020).

Each task's priority-weighted gradient on the shared trunk is projected, in a random
order, onto the normal plane of every other task's gradient it conflicts with (negative
inner product); the projected gradients are summed. Heads keep their own task's gradient.
The projection is branch-free (``clamp``), so no value is read back to the host.
"""

from __future__ import annotations

from typing import Any

import torch

from moola.balancing import grads as G
from moola.balancing.base import Balancer, StepContext
from moola.tasks import TaskSet


def project_conflicting(
    task_grads: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """PCGrad projection of (T, P) flat task gradients; returns the projected (T, P)."""
    projected = task_grads.clone()
    n_tasks = task_grads.shape[0]
    squared_norms = (task_grads * task_grads).sum(dim=1).clamp_min(1e-30)
    for i in range(n_tasks):
        order = torch.randperm(n_tasks, generator=generator).tolist()
        for j in order:
            if j == i:
                continue
            dot = (projected[i] * task_grads[j]).sum()
            projected[i] = projected[i] - dot.clamp(max=0.0) / squared_norms[j] * task_grads[j]
    return projected


class PCGradBalancer(Balancer):
    name = "pcgrad"
    uses_task_inputs = True

    def __init__(
        self, tasks: TaskSet, *, device: torch.device | str = "cpu", seed: int = 0
    ) -> None:
        super().__init__(tasks, device=device)
        # The projection order is drawn on the CPU: it is a handful of integers.
        self.generator = torch.Generator().manual_seed(seed)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])

    def backward(self, losses: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        weights = self.priorities
        rep_grads = G.representation_grads(losses, ctx)
        trunk = ctx.trunk_params
        per_task = G.trunk_grads(ctx.trunk_out, rep_grads, trunk)
        flat = torch.stack([weights[i] * G.flatten(g, trunk) for i, g in enumerate(per_task)])
        merged = project_conflicting(flat, self.generator).sum(dim=0)
        G.accumulate(trunk, G.unflatten(merged, trunk))
        G.head_backward(losses, weights, ctx)
        return weights
