"""One evaluation of a model on held-out windows: every head's loss, metric and interval.

The held-out windows come as chunks of (inputs, targets) (:func:`evaluate_chunks`), so
that a validation set larger than memory is scored a chunk at a time: losses and metrics
are gathered chunk by chunk (:class:`moola.verdict.metrics.MetricSums`), and only each
window's natural-units loss (head and prior, for the paired interval) is kept for every
window. Over one chunk, every number is what scoring the whole set at once gives, bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from moola.models.forward import forward_eval
from moola.tasks import TaskSet
from moola.verdict.interval import BlockBootstrap, paired_intervals_of
from moola.verdict.metrics import MetricSums, combine
from moola.verdict.priors import Prior, fit_priors, prior_window_losses, window_losses

Chunk = tuple[torch.Tensor, Mapping[str, torch.Tensor]]


@dataclass
class Evaluation:
    """Per head, the natural-units loss (countdown in bars) and the metrics with the prior's."""

    losses: dict[str, float]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"losses": self.losses, "metrics": self.metrics}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Evaluation:
        return cls(dict(state["losses"]), dict(state["metrics"]))


def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    targets: Mapping[str, torch.Tensor],
    tasks: TaskSet,
    train_targets: Mapping[str, torch.Tensor] | None,
    *,
    bootstrap: BlockBootstrap | None = None,
    priors: Mapping[str, Prior] | None = None,
) -> Evaluation:
    """Losses and metrics on ``x``; with ``bootstrap``, each head's paired interval against
    its prior joins its metrics (``paired_low`` > 0 is then part of the verdict). ``priors``
    are the prior-only predictors fitted on ``train_targets``; a run fits them once and
    passes them, else they are fitted here (once, for the metrics and the intervals).
    ``moola predict`` passes the run's saved priors and no targets."""
    if priors is None:
        if train_targets is None:
            raise ValueError("evaluate needs the priors or the training targets to fit them")
        priors = fit_priors(tasks, train_targets)
    return evaluate_chunks(
        model, [(x, targets)], tasks, priors, window=int(x.shape[1]), bootstrap=bootstrap
    )


def evaluate_chunks(
    model: nn.Module,
    chunks: Iterable[Chunk],
    tasks: TaskSet,
    priors: Mapping[str, Prior],
    *,
    window: int,
    bootstrap: BlockBootstrap | None = None,
) -> Evaluation:
    """:func:`evaluate` on held-out windows that come ``chunks`` at a time, in order."""
    sums = MetricSums(tasks, window, priors)
    losses: dict[str, list[tuple[float, float]]] = {name: [] for name in tasks.names}
    head: dict[str, list[torch.Tensor]] = {name: [] for name in tasks.names}
    prior: dict[str, list[torch.Tensor]] = {name: [] for name in tasks.names}
    for x, targets in chunks:
        outputs = forward_eval(model, x)
        natural = tasks.to_natural(tasks.losses(outputs, targets)).tolist()
        n = float(x.shape[0])
        for name, value in zip(tasks.names, natural):
            losses[name].append((value, n))
        sums.add(outputs, targets)
        if bootstrap is not None:
            predictions = {t.name: outputs[t.output_key] for t in tasks}
            for name, value in window_losses(tasks, predictions, targets).items():
                head[name].append(value)
            for name, value in prior_window_losses(tasks, priors, targets).items():
                prior[name].append(value)
        del outputs
    metrics = sums.metrics()
    if bootstrap is not None:
        intervals = paired_intervals_of(
            {name: _joined(head[name]) for name in tasks.names},
            {name: _joined(prior[name]) for name in tasks.names},
            bootstrap,
        )
        for name, interval in intervals.items():
            metrics.setdefault(name, {}).update(interval)
    return Evaluation({name: combine(parts) for name, parts in losses.items()}, metrics)


def _joined(parts: list[torch.Tensor]) -> np.ndarray:
    return np.asarray(torch.cat(parts).numpy(), dtype=np.float64)
