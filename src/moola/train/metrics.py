"""Validation: per-task losses and metrics that tell a learned signal from a learned prior.

A falling loss is not proof of learning (the original binary head's loss fell while its
span F1 stayed 0.000), so each metric is reported beside what the best constant predictor
fitted on the training split achieves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from moola.models import JadeCompact
from moola.tasks import RegressionTask, TaskSet

#: A head "learned" when its validation loss beats the constant baseline by this fraction.
LEARNED_MARGIN = 0.05


@dataclass
class Evaluation:
    losses: dict[str, float]  # natural units (countdown in bars)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"losses": self.losses, "metrics": self.metrics}


@torch.no_grad()
def predict(
    model: JadeCompact, x: torch.Tensor, *, batch_size: int = 256
) -> dict[str, torch.Tensor]:
    """Model outputs for ``x`` in eval mode, concatenated over chunks."""
    was_training = model.training
    model.eval()
    chunks = [model(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
    model.train(was_training)
    keys = [k for k, v in chunks[0].items() if v.dim() > 0]
    return {k: torch.cat([c[k] for c in chunks]) for k in keys}


def evaluate(
    model: JadeCompact,
    x: torch.Tensor,
    targets: Mapping[str, torch.Tensor],
    tasks: TaskSet,
    train_targets: Mapping[str, torch.Tensor],
) -> Evaluation:
    outputs = predict(model, x)
    natural = tasks.to_natural(tasks.losses(outputs, targets))
    losses = dict(zip(tasks.names, natural.tolist()))
    return Evaluation(
        losses, task_metrics(outputs, targets, tasks, train_targets, window=x.shape[1])
    )


def task_metrics(
    outputs: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    tasks: TaskSet,
    train_targets: Mapping[str, torch.Tensor],
    *,
    window: int,
) -> dict[str, dict[str, float]]:
    metrics: dict[str, dict[str, float]] = {}
    names = set(tasks.names)
    if "type" in names:
        y = targets["type"]
        majority = torch.bincount(train_targets["type"]).argmax()
        metrics["type"] = {
            "accuracy": _mean(outputs["logits"].argmax(dim=1) == y),
            "baseline_accuracy": _mean(y == majority),
        }
    if "pointers" in names:
        task = tasks["pointers"]
        assert isinstance(task, RegressionTask)
        truth = targets["pointers"] / task.target_scale
        train = train_targets["pointers"] / task.target_scale
        metrics["pointers"] = {
            "mae_bars": _mean((outputs["pointers"] - truth).abs()) * window,
            "baseline_mae_bars": _mean((train.median(dim=0).values - truth).abs()) * window,
        }
    if "binary" in names:
        y = targets["binary"] > 0.5
        prob = torch.sigmoid(outputs["expansion_binary_logits"])
        metrics["binary"] = {
            "f1": _f1(prob > 0.5, y),
            "baseline_f1": _f1(torch.ones_like(y), y),  # best constant F1: every bar in-span
            "in_span_prob": _mean(prob[y]) if bool(y.any()) else float("nan"),
            "out_span_prob": _mean(prob[~y]) if bool((~y).any()) else float("nan"),
        }
    if "countdown" in names:
        task = tasks["countdown"]
        assert isinstance(task, RegressionTask)
        pred_bars = task.natural_prediction(outputs["expansion_countdown"])
        truth = targets["countdown"] / task.target_scale
        train = train_targets["countdown"] / task.target_scale
        metrics["countdown"] = {
            "mae_bars": _mean((pred_bars - truth).abs()),
            "baseline_mae_bars": _mean((train.median() - truth).abs()),
        }
    return metrics


def _mean(t: torch.Tensor) -> float:
    return float(t.double().mean())


def _f1(predicted: torch.Tensor, actual: torch.Tensor) -> float:
    tp = float((predicted & actual).sum())
    fp = float((predicted & ~actual).sum())
    fn = float((~predicted & actual).sum())
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def learned(initial: float, final: float, baseline: float, margin: float = LEARNED_MARGIN) -> bool:
    """The verdict: beat the constant predictor by ``margin`` and improve on the start."""
    return final <= (1.0 - margin) * baseline and final < initial
