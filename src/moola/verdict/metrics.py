"""Each head's validation metric beside its prior's: what tells a learned signal from a learned prior.

A falling loss is not proof of learning (the original binary head's loss fell while its
span F1 stayed 0.000), so each metric is reported beside what the prior-only predictor
fitted on the training split achieves (:mod:`moola.verdict.priors`); the prior's values go
by the ``baseline_*`` keys that ``metrics.json`` has always used.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from moola.tasks import RegressionTask, TaskSet
from moola.verdict.priors import Prior, prior_metrics


def task_metrics(
    outputs: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    tasks: TaskSet,
    train_targets: Mapping[str, torch.Tensor] | None,
    *,
    window: int,
    priors: Mapping[str, Prior],
) -> dict[str, dict[str, float]]:
    """Per head (of JadeCompact's four that ``tasks`` holds): its metric and the prior's.

    ``outputs`` are the model's raw outputs by output key; ``priors`` were fitted on
    ``train_targets``, which give the one-number countdown median reported beside them
    (left out without them: ``moola predict`` has the run's priors, not its targets).
    """
    metrics: dict[str, dict[str, float]] = {}
    names = set(tasks.names)
    prior = prior_metrics(tasks, priors, targets, window=window)
    if "type" in names:
        y = targets["type"]
        predicted = outputs[tasks["type"].output_key].argmax(dim=1)
        metrics["type"] = {
            "accuracy": _mean(predicted == y),
            "baseline_accuracy": prior["type"]["baseline_accuracy"],
            "balanced_accuracy": _balanced_accuracy(predicted, y),
        }
    if "pointers" in names:
        task = tasks["pointers"]
        assert isinstance(task, RegressionTask)
        truth = targets["pointers"] / task.target_scale
        metrics["pointers"] = {
            "mae_bars": _mean((outputs[task.output_key] - truth).abs()) * window,
            "baseline_mae_bars": prior["pointers"]["baseline_mae_bars"],
        }
    if "binary" in names:
        y = targets["binary"] > 0.5
        prob = torch.sigmoid(outputs[tasks["binary"].output_key])
        metrics["binary"] = {
            "f1": _f1(prob > 0.5, y),
            "baseline_f1": prior["binary"]["baseline_f1"],  # the per-position prior's F1
            "all_in_span_f1": _f1(torch.ones_like(y), y),  # the one-number constant's
            "in_span_prob": _mean(prob[y]) if bool(y.any()) else float("nan"),
            "out_span_prob": _mean(prob[~y]) if bool((~y).any()) else float("nan"),
        }
    if "countdown" in names:
        task = tasks["countdown"]
        assert isinstance(task, RegressionTask)
        pred_bars = task.natural_prediction(outputs[task.output_key])
        truth = targets["countdown"] / task.target_scale
        metrics["countdown"] = {
            "mae_bars": _mean((pred_bars - truth).abs()),
            "baseline_mae_bars": prior["countdown"]["baseline_mae_bars"],  # per-position median
        }
        if train_targets is not None:
            train = train_targets["countdown"] / task.target_scale
            metrics["countdown"]["constant_mae_bars"] = _mean((train.median() - truth).abs())
    return metrics


def _mean(t: torch.Tensor) -> float:
    return float(t.double().mean())


def _f1(predicted: torch.Tensor, actual: torch.Tensor) -> float:
    tp = float((predicted & actual).sum())
    fp = float((predicted & ~actual).sum())
    fn = float((~predicted & actual).sum())
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def _balanced_accuracy(predicted: torch.Tensor, actual: torch.Tensor) -> float:
    """Mean per-class recall over the classes present: a constant guess scores 1/n_present."""
    recalls = [_mean(predicted[actual == c] == c) for c in torch.unique(actual).tolist()]
    return sum(recalls) / len(recalls)
