"""One evaluation of a model on held-out windows: every head's loss, metric and interval."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from moola.models.forward import forward_eval
from moola.tasks import TaskSet
from moola.verdict.interval import BlockBootstrap, paired_intervals
from moola.verdict.metrics import task_metrics
from moola.verdict.priors import Prior, fit_priors


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
    outputs = forward_eval(model, x)
    natural = tasks.to_natural(tasks.losses(outputs, targets))
    losses = dict(zip(tasks.names, natural.tolist()))
    metrics = task_metrics(outputs, targets, tasks, train_targets, window=x.shape[1], priors=priors)
    if bootstrap is not None:
        for name, interval in paired_intervals(outputs, targets, tasks, bootstrap, priors).items():
            metrics.setdefault(name, {}).update(interval)
    return Evaluation(losses, metrics)
