"""Per-task gradients on what the tasks share, for any ``torch.nn.Module``.

A multi-task model is balanced when no task's gradient on the shared part dwarfs the
others'. This measures it exactly: one ``torch.autograd.grad`` per task (no optimizer step,
no ``.grad`` written), on the same math as moola's own probe (:mod:`moola.probe`).

Measuring keeps the graph (``retain_graph=True`` by default): a check must not consume what
it checks, so ``gradient_shares`` followed by an assert on the same losses, two asserts in a
row, or a ``backward()`` afterwards all work. In a test the graph lives as long as the
losses anyway; ``retain_graph=False`` frees it where memory matters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from moola.errors import MoolaError
from moola.probe import cosines_of, shares_of, task_gradients, worst_cosines

#: What ``shared`` may be: a submodule or its name, a shared tensor (a representation every
#: head reads), or the shared parameters.
Shared = str | torch.nn.Module | torch.Tensor | Iterable[torch.Tensor]


class CheckUsageError(MoolaError, ValueError):
    """A check of :mod:`moola.testing` was called with something it cannot measure (a loss
    without a graph, a shared tensor the losses do not reach...); the message says what to
    change. A ``ValueError``, as these misuses were before they had a name."""


@dataclass(frozen=True)
class GradientShares:
    """Each task's gradient on the shared part: norms, shares and pairwise cosines.

    ``norms[i]`` is ‖∂Lᵢ/∂shared‖, ``shares`` those over their sum, ``cosine[i, j]`` the
    cosine similarity of tasks i and j's gradients. Tensors are in ``tasks`` order. Measure
    once and hand it to every assert (``assert_balanced(shares, max_spread=...)``).
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
    retain_graph: bool = True,
) -> GradientShares:
    """Exact per-task gradient norms, shares and cosines on ``shared``.

    ``losses``: task name -> scalar loss, all computed by ``model`` in one graph.
    ``shared``: the shared submodule of ``model`` or its name (``"trunk"``), its
    parameters, or a shared tensor in the graph (the trunk's output). The graph is kept for
    further checks or a ``backward()`` (``retain_graph=False`` frees it). Misuse raises
    :class:`CheckUsageError` naming the task or argument.
    """
    __tracebackhide__ = True  # a failing check shows the user's line, not moola's
    _check_losses(losses)
    tensors = _shared_tensors(model, shared)
    unreached: list[int] = []
    try:
        (flat,) = task_gradients(
            list(losses.values()), [tensors], retain_graph=retain_graph, unreached=unreached
        )
    except RuntimeError as exc:
        if "backward through the graph a second time" not in str(exc):
            raise
        raise CheckUsageError(
            "the graph of these losses was already freed (by a backward() or a measurement "
            "with retain_graph=False): compute the losses again, or measure once with "
            "gradient_shares and pass the result to each assert"
        ) from None
    if unreached:
        names = [repr(name) for i, name in enumerate(losses) if i in unreached]
        which = (
            f"the loss of task {names[0]} does not"
            if len(names) == 1
            else f"the losses of tasks {', '.join(names)} do not"
        )
        raise CheckUsageError(
            f"{which} reach the shared tensors: pass the shared "
            "part of the graph these losses were computed from (the submodule's name, its "
            "parameters, or the trunk output of this same forward pass)"
        )
    return GradientShares(tuple(losses), flat.norm(dim=1), cosines_of(flat))


def _check_losses(losses: Mapping[str, torch.Tensor]) -> None:
    """Every loss a scalar tensor with a graph, or a :class:`CheckUsageError` naming it."""
    __tracebackhide__ = True
    if not isinstance(losses, Mapping):
        raise CheckUsageError(
            f"losses must be a mapping of task name to scalar loss, got {type(losses).__name__}"
        )
    if not losses:
        raise CheckUsageError("the checks need at least one task's loss, got none")
    for name, loss in losses.items():
        if not isinstance(loss, torch.Tensor):
            raise CheckUsageError(
                f"the loss of task {name!r} must be a torch.Tensor, got {type(loss).__name__}"
            )
        if loss.dim() != 0:
            raise CheckUsageError(
                f"the loss of task {name!r} must be a scalar, got shape {tuple(loss.shape)} "
                "(reduce it, e.g. with .mean())"
            )
        if not loss.requires_grad:
            raise CheckUsageError(
                f"the loss of task {name!r} has no graph (computed under torch.no_grad(), "
                "detached, or from tensors that need no gradient): compute it with grad enabled"
            )


def _shared_tensors(model: torch.nn.Module, shared: Shared) -> list[torch.Tensor]:
    __tracebackhide__ = True
    if isinstance(shared, str):
        try:
            module = model.get_submodule(shared)
        except AttributeError:
            raise CheckUsageError(
                f"the model has no submodule {shared!r} to measure gradients on"
            ) from None
        tensors: list[torch.Tensor] = [p for p in module.parameters() if p.requires_grad]
    elif isinstance(shared, torch.nn.Module):
        tensors = [p for p in shared.parameters() if p.requires_grad]
    elif isinstance(shared, torch.Tensor):
        tensors = [shared]
    else:
        tensors = list(shared)
    if not tensors:
        raise CheckUsageError(
            "no shared tensors to measure gradients on (empty, or none requires grad)"
        )
    odd = next((t for t in tensors if not isinstance(t, torch.Tensor)), None)
    if odd is not None:
        raise CheckUsageError(
            "shared must be a submodule (or its name), a tensor, or tensors; got an item of "
            f"type {type(odd).__name__}"
        )
    if any(not t.requires_grad for t in tensors):
        raise CheckUsageError(
            "every shared tensor must require grad (a frozen parameter measures nothing)"
        )
    return tensors
