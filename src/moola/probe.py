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

The math (:func:`task_gradients`, :func:`shares_of`, :func:`cosines_of`,
:func:`worst_cosines`) knows nothing of JadeCompact: :mod:`moola.testing` builds its
``gradient_shares`` for any model on the same functions, so there is one implementation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from moola.balancing import grads as G
from moola.models.multitask import MultiTaskModel
from moola.tasks import TaskSet


def task_gradients(
    losses: Sequence[torch.Tensor],
    groups: Sequence[Sequence[torch.Tensor]],
    *,
    retain_graph: bool = False,
    unreached: list[int] | None = None,
) -> list[torch.Tensor]:
    """Per group of tensors, a (T, P) matrix: row i is ∂Lᵢ/∂(the group), flattened.

    Exact: one ``torch.autograd.grad`` per task, so no ``.grad`` field and no optimizer is
    touched. A tensor that a task does not reach gets a zero gradient; ``unreached``, when
    given, collects the positions of the losses that reach none of the tensors (a caller's
    mistake more often than a dead task). The graph is kept until the last task (or after
    it too, with ``retain_graph``).
    """
    inputs = [t for group in groups for t in group]
    rows: list[list[torch.Tensor]] = [[] for _ in groups]
    for i, loss in enumerate(losses):
        keep = retain_graph or i < len(losses) - 1
        grads = torch.autograd.grad(loss, inputs, retain_graph=keep, allow_unused=True)
        if unreached is not None and all(g is None for g in grads):
            unreached.append(i)
        offset = 0
        for g, group in enumerate(groups):
            rows[g].append(G.flatten(grads[offset : offset + len(group)], group))
            offset += len(group)
    return [torch.stack(r) for r in rows]


def shares_of(norms: torch.Tensor) -> torch.Tensor:
    """Each task's fraction of the summed gradient norms."""
    return norms / norms.sum().clamp_min(1e-30)


def cosines_of(flat: torch.Tensor) -> torch.Tensor:
    """(T, T) cosine similarity of the rows of ``flat`` (a zero row has cosine 0)."""
    unit = flat / flat.norm(dim=1).clamp_min(1e-30)[:, None]
    return unit @ unit.T


def worst_cosines(cosine: torch.Tensor) -> torch.Tensor:
    """Per task: the most negative cosine with any other task (1 for a single task)."""
    off_diagonal = cosine + 2.0 * torch.eye(cosine.shape[0], device=cosine.device)
    return off_diagonal.min(dim=1).values.clamp_max(1.0)


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
        return shares_of(self.trunk_grad_norm)

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
        return worst_cosines(self.cosine)

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
    rep, flat = task_gradients(
        list(losses), [[trunk_out], list(trunk_params)], retain_graph=retain_graph
    )
    raw = flat.norm(dim=1)
    weights = weights.detach().to(flat.dtype)
    return ProbeReport(
        task_names=tuple(task_names),
        losses=losses.detach(),
        weights=weights,
        priorities=priorities.to(flat.dtype),
        raw_trunk_grad_norm=raw,
        trunk_grad_norm=weights.abs() * raw,
        rep_grad_norm=weights.abs() * rep.norm(dim=1),
        cosine=cosines_of(flat),
    )


def probe_gradients(
    model: MultiTaskModel,
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
