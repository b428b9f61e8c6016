"""Per-task gradients on what the tasks share, for any ``torch.nn.Module``.

A multi-task model is balanced when no task's gradient on the shared part dwarfs the
others'. This measures it exactly: one ``torch.autograd.grad`` per task (no optimizer step,
no ``.grad`` written), on the same math as moola's own probe (:mod:`moola.probe`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from moola.probe import cosines_of, shares_of, task_gradients, worst_cosines

#: What ``shared`` may be: a submodule's name, a shared tensor (a representation every
#: head reads), or the shared parameters.
Shared = str | torch.Tensor | Iterable[torch.Tensor]


@dataclass(frozen=True)
class GradientShares:
    """Each task's gradient on the shared part: norms, shares and pairwise cosines.

    ``norms[i]`` is ‖∂Lᵢ/∂shared‖, ``shares`` those over their sum, ``cosine[i, j]`` the
    cosine similarity of tasks i and j's gradients. Tensors are in ``tasks`` order.
    """

    tasks: tuple[str, ...]
    norms: torch.Tensor  # (T,)
    cosine: torch.Tensor  # (T, T)

    @property
    def shares(self) -> torch.Tensor:
        return shares_of(self.norms)

    @property
    def worst_cosine(self) -> torch.Tensor:
        """Per task: its most negative cosine with any other task."""
        return worst_cosines(self.cosine)

    @property
    def spread(self) -> float:
        """Largest norm over smallest (1: every task pulls equally hard)."""
        return float(self.norms.max() / self.norms.min().clamp_min(1e-30))

    def share(self, task: str) -> float:
        return float(self.shares[self.tasks.index(task)])

    def to_dict(self) -> dict[str, Any]:
        """Plain floats per task: ``norm``, ``share``, ``worst_cosine``."""
        rows = zip(
            self.tasks, self.norms.tolist(), self.shares.tolist(), self.worst_cosine.tolist()
        )
        return {
            name: {"norm": norm, "share": share, "worst_cosine": cos}
            for name, norm, share, cos in rows
        }


def gradient_shares(
    model: torch.nn.Module,
    losses: Mapping[str, torch.Tensor],
    shared: Shared,
    *,
    retain_graph: bool = False,
) -> GradientShares:
    """Exact per-task gradient norms, shares and cosines on ``shared``.

    ``losses``: task name -> scalar loss, all computed by ``model`` in one graph.
    ``shared``: the name of the shared submodule of ``model`` (``"trunk"``), its
    parameters, or a shared tensor in the graph (the trunk's output). ``retain_graph``
    keeps the graph for a ``backward()`` afterwards.
    """
    if not losses:
        raise ValueError("gradient_shares needs at least one task's loss")
    for name, loss in losses.items():
        if loss.dim() != 0:
            raise ValueError(
                f"the loss of task {name!r} must be a scalar, got shape {tuple(loss.shape)}"
            )
        if not loss.requires_grad:
            raise ValueError(f"the loss of task {name!r} has no graph (computed under no_grad?)")
    tensors = _shared_tensors(model, shared)
    (flat,) = task_gradients(list(losses.values()), [tensors], retain_graph=retain_graph)
    return GradientShares(tuple(losses), flat.norm(dim=1), cosines_of(flat))


def _shared_tensors(model: torch.nn.Module, shared: Shared) -> list[torch.Tensor]:
    if isinstance(shared, str):
        try:
            module = model.get_submodule(shared)
        except AttributeError:
            raise ValueError(
                f"the model has no submodule {shared!r} to measure gradients on"
            ) from None
        tensors: list[torch.Tensor] = [p for p in module.parameters() if p.requires_grad]
    elif isinstance(shared, torch.Tensor):
        tensors = [shared]
    else:
        tensors = list(shared)
    if not tensors:
        raise ValueError("no shared tensors to measure gradients on (empty, or none requires grad)")
    if any(not t.requires_grad for t in tensors):
        raise ValueError(
            "every shared tensor must require grad (a frozen parameter measures nothing)"
        )
    return tensors
