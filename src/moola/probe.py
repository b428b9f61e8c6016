"""Gradient probe: how much of the shared trunk's gradient each task really gets.

For each task i with weight wᵢ it measures, exactly (one backward pass per task):

* ``trunk_grad_norm``: ‖wᵢ·∇_trunk Lᵢ‖, the weighted gradient norm on the shared BiLSTM;
* ``share``: that norm over the sum of all tasks' norms;
* ``rep_grad_norm``: ‖wᵢ·∂Lᵢ/∂h‖ on the shared representation h (the LSTM output);
* ``cosine``: pairwise cosine similarity of the tasks' trunk gradients;
* ``effective_weight``: wᵢ times the task's gradient scale sᵢ = ‖∇_trunk Lᵢ‖ / geomean_j
  ‖∇_trunk L_j‖, the "weight × gradient scale" of the loss-normalisation evidence;
* ``spread``: max/min over tasks of trunk_grad_norm / priority (1 = perfectly in proportion).

Everything stays a device tensor; values are read back only by :meth:`ProbeReport.to_dict`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from moola.balancing import grads as G
from moola.models.jade_core import JadeCompact
from moola.tasks import TaskSet


@dataclass(frozen=True)
class ProbeReport:
    task_names: tuple[str, ...]
    losses: torch.Tensor  # (T,) training units
    weights: torch.Tensor  # (T,)
    priorities: torch.Tensor  # (T,)
    raw_trunk_grad_norm: torch.Tensor  # (T,) unweighted ‖∇_trunk Lᵢ‖
    trunk_grad_norm: torch.Tensor  # (T,) weighted
    rep_grad_norm: torch.Tensor  # (T,) weighted
    cosine: torch.Tensor  # (T, T)

    @property
    def share(self) -> torch.Tensor:
        return self.trunk_grad_norm / self.trunk_grad_norm.sum().clamp_min(1e-30)

    @property
    def effective_weight(self) -> torch.Tensor:
        log_norms = self.raw_trunk_grad_norm.clamp_min(1e-30).log()
        scale = (log_norms - log_norms.mean()).exp()
        return self.weights * scale

    @property
    def per_priority(self) -> torch.Tensor:
        return self.trunk_grad_norm / self.priorities

    @property
    def spread(self) -> torch.Tensor:
        ratio = self.per_priority
        return ratio.max() / ratio.min().clamp_min(1e-30)

    @property
    def worst_cosine(self) -> torch.Tensor:
        """Per task: the most negative cosine with any other task."""
        off_diagonal = self.cosine + 2.0 * torch.eye(
            len(self.task_names), device=self.cosine.device
        )
        return off_diagonal.min(dim=1).values

    def to_dict(self) -> dict[str, Any]:
        """Plain floats (this is where values are read back to the host)."""
        rows = zip(
            self.task_names,
            self.losses.tolist(),
            self.weights.tolist(),
            self.trunk_grad_norm.tolist(),
            self.share.tolist(),
            self.rep_grad_norm.tolist(),
            self.effective_weight.tolist(),
            self.worst_cosine.tolist(),
        )
        tasks = {
            name: {
                "loss": loss,
                "weight": weight,
                "trunk_grad_norm": norm,
                "share": share,
                "rep_grad_norm": rep,
                "effective_weight": eff,
                "worst_cosine": cos,
            }
            for name, loss, weight, norm, share, rep, eff, cos in rows
        }
        return {
            "tasks": tasks,
            "spread": float(self.spread),
            "cosine": self.cosine.tolist(),
        }


def probe_from_graph(
    losses: torch.Tensor,
    trunk_out: torch.Tensor,
    trunk_params: Sequence[torch.Tensor],
    weights: torch.Tensor,
    priorities: torch.Tensor,
    task_names: Sequence[str],
    *,
    retain_graph: bool = False,
) -> ProbeReport:
    """Probe a graph that is already built (losses computed from ``trunk_out``)."""
    rep_grads = []
    per_task = []
    inputs = [trunk_out, *trunk_params]
    n_tasks = losses.shape[0]
    for i in range(n_tasks):
        keep = retain_graph or i < n_tasks - 1
        grads = torch.autograd.grad(losses[i], inputs, retain_graph=keep, allow_unused=True)
        rep_grads.append(grads[0] if grads[0] is not None else torch.zeros_like(trunk_out))
        per_task.append(list(grads[1:]))
    flat = torch.stack([G.flatten(g, trunk_params) for g in per_task])
    raw = flat.norm(dim=1)
    unit = flat / raw.clamp_min(1e-30)[:, None]
    weights = weights.detach().to(flat.dtype)
    return ProbeReport(
        task_names=tuple(task_names),
        losses=losses.detach(),
        weights=weights,
        priorities=priorities.to(flat.dtype),
        raw_trunk_grad_norm=raw,
        trunk_grad_norm=weights.abs() * raw,
        rep_grad_norm=weights.abs() * torch.stack([g.norm() for g in rep_grads]),
        cosine=unit @ unit.T,
    )


def probe_gradients(
    model: JadeCompact,
    x: torch.Tensor,
    targets: Mapping[str, torch.Tensor],
    tasks: TaskSet,
    weights: torch.Tensor,
) -> ProbeReport:
    """Forward ``x`` and probe each task's gradient with the given loss weights.

    The model's ``.grad`` fields are left untouched (gradients are taken with
    ``torch.autograd.grad``).
    """
    trunk_out = model.encode(x)
    losses = tasks.losses(model.decode(trunk_out), targets)
    return probe_from_graph(
        losses,
        trunk_out,
        model.trunk_parameters(),
        weights,
        tasks.priorities(losses.device),
        tasks.names,
    )
