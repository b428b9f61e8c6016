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
from moola.train.paired import BlockBootstrap, paired_intervals
from moola.train.priors import Prior, fit_priors, prior_metric_baselines

#: A head "learned" when its validation loss beats the constant baseline by this fraction.
LEARNED_MARGIN = 0.05


@dataclass(frozen=True)
class MetricRule:
    """The signal half of the verdict: ``key`` must beat the constant predictor's ``baseline_key``."""

    key: str
    baseline_key: str
    higher_is_better: bool
    label: str  # how the metric is named in the ``why`` sentence
    unit: str = ""


#: Per head, the validation metric that must beat the constant predictor's.
METRIC_RULES: dict[str, MetricRule] = {
    "type": MetricRule("accuracy", "baseline_accuracy", True, "accuracy"),
    "pointers": MetricRule("mae_bars", "baseline_mae_bars", False, "MAE", " bars"),
    "binary": MetricRule("f1", "baseline_f1", True, "span F1"),
    "countdown": MetricRule("mae_bars", "baseline_mae_bars", False, "MAE", " bars"),
}


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
    """Model outputs for ``x`` in eval mode, concatenated over chunks.

    Each chunk keeps copies of its per-window outputs only: an output may be a view of a
    larger activation of the forward pass, which would otherwise stay alive with it (about
    130 KB per window, the biggest cost of evaluating a large validation set).
    """
    was_training = model.training
    model.eval()
    chunks = []
    for i in range(0, x.shape[0], batch_size):
        out = model(x[i : i + batch_size])
        chunks.append({k: v.clone() for k, v in out.items() if v.dim() > 0})
        del out
    model.train(was_training)
    return {k: torch.cat([c[k] for c in chunks]) for k in chunks[0]}


def evaluate(
    model: JadeCompact,
    x: torch.Tensor,
    targets: Mapping[str, torch.Tensor],
    tasks: TaskSet,
    train_targets: Mapping[str, torch.Tensor],
    *,
    bootstrap: BlockBootstrap | None = None,
    priors: Mapping[str, Prior] | None = None,
) -> Evaluation:
    """Losses and metrics on ``x``; with ``bootstrap``, each head's paired interval against
    its prior joins its metrics (``paired_low`` > 0 is then part of the verdict). ``priors``
    are the prior-only predictors fitted on ``train_targets``; a run fits them once and
    passes them, else they are fitted here (once, for the metrics and the intervals)."""
    priors = priors if priors is not None else fit_priors(tasks, train_targets)
    outputs = predict(model, x)
    natural = tasks.to_natural(tasks.losses(outputs, targets))
    losses = dict(zip(tasks.names, natural.tolist()))
    metrics = task_metrics(outputs, targets, tasks, train_targets, window=x.shape[1], priors=priors)
    if bootstrap is not None:
        for name, interval in paired_intervals(
            outputs, targets, tasks, train_targets, bootstrap, priors=priors
        ).items():
            metrics.setdefault(name, {}).update(interval)
    return Evaluation(losses, metrics)


def task_metrics(
    outputs: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    tasks: TaskSet,
    train_targets: Mapping[str, torch.Tensor],
    *,
    window: int,
    priors: Mapping[str, Prior] | None = None,
) -> dict[str, dict[str, float]]:
    metrics: dict[str, dict[str, float]] = {}
    names = set(tasks.names)
    # The constants are the prior-only predictors fitted on training (moola.train.priors).
    priors = priors if priors is not None else fit_priors(tasks, train_targets)
    prior = prior_metric_baselines(tasks, priors, targets, window=window)
    if "type" in names:
        y = targets["type"]
        predicted = outputs["logits"].argmax(dim=1)
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
            "mae_bars": _mean((outputs["pointers"] - truth).abs()) * window,
            "baseline_mae_bars": prior["pointers"]["baseline_mae_bars"],
        }
    if "binary" in names:
        y = targets["binary"] > 0.5
        prob = torch.sigmoid(outputs["expansion_binary_logits"])
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
        pred_bars = task.natural_prediction(outputs["expansion_countdown"])
        truth = targets["countdown"] / task.target_scale
        train = train_targets["countdown"] / task.target_scale
        metrics["countdown"] = {
            "mae_bars": _mean((pred_bars - truth).abs()),
            "baseline_mae_bars": prior["countdown"]["baseline_mae_bars"],  # per-position median
            "constant_mae_bars": _mean((train.median() - truth).abs()),  # one number
        }
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


def loss_learned(
    initial: float, final: float, baseline: float, margin: float = LEARNED_MARGIN
) -> bool:
    """The loss half of the verdict: beat the constant predictor by ``margin`` and the start."""
    return final <= (1.0 - margin) * baseline and final < initial


@dataclass(frozen=True)
class Verdict:
    """Whether a head learned signal, with a short sentence that names the deciding part."""

    learned: bool
    why: str


def verdict(
    task: str,
    *,
    initial: float,
    final: float,
    baseline: float,
    metrics: Mapping[str, float],
    margin: float = LEARNED_MARGIN,
    rule: MetricRule | None = None,
) -> Verdict:
    """The one rule that says whether a head learned: loss **and** metric beat the constant.

    Loss: the validation loss is at least ``margin`` below the constant baseline (the
    prior-only predictor fitted on the training split, :mod:`moola.train.priors`) and below
    the initial loss; when ``metrics`` carries the paired bootstrap interval
    (:mod:`moola.train.paired`), its lower bound on ``baseline − loss`` must be above zero. Metric: the head's validation metric
    beats the constant predictor's (see :data:`METRIC_RULES`). A head that learned only the
    prior passes the loss test and fails the metric test. A task without a rule (or without
    its metric) is judged by the loss alone, and ``why`` says so. ``rule`` replaces the
    task's entry in :data:`METRIC_RULES` (``moola.testing.assert_learns`` judges any head).
    """
    ratio = final / baseline if baseline > 0 else float("inf")
    loss_ok = loss_learned(initial, final, baseline, margin)
    loss_part = f"loss {ratio:.2f}x const"
    if not final <= (1.0 - margin) * baseline:
        loss_part += f" (needs <= {1 - margin:.2f}x)"
    if not final < initial:
        loss_part += f", not below its initial {initial:.4g}"
    if "paired_low" in metrics:  # the interval: the gain over the prior must hold (lower > 0)
        low = float(metrics["paired_low"])
        interval_ok = low > 0
        loss_part += f", 95% CI [{metrics['ratio_low']:.2f}, {metrics['ratio_high']:.2f}]x"
        if not interval_ok:  # the interval does not exclude "no better than the prior"
            loss_part += " (reaches 1x)" if metrics["ratio_low"] < 1 else " (all >= 1x)"
        loss_ok = loss_ok and interval_ok
    rule = rule if rule is not None else METRIC_RULES.get(task)
    if rule is None or rule.key not in metrics or rule.baseline_key not in metrics:
        return Verdict(loss_ok, f"{loss_part}; no metric to check")
    value, const = float(metrics[rule.key]), float(metrics[rule.baseline_key])
    metric_ok = value > const if rule.higher_is_better else value < const
    digits = 3 if rule.higher_is_better else 2
    if metric_ok:
        op = ">" if rule.higher_is_better else "<"
    else:
        op = "<=" if rule.higher_is_better else ">="
    metric_part = f"{rule.label} {value:.{digits}f}{rule.unit} {op} const {const:.{digits}f}"
    learned = loss_ok and metric_ok
    joiner = "and" if loss_ok == metric_ok else "but"
    return Verdict(learned, f"{loss_part} {joiner} {metric_part}")
