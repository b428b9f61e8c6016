"""Each head's validation metric beside its prior's: what tells a learned signal from a learned prior.

A falling loss is not proof of learning (the original binary head's loss fell while its
span F1 stayed 0.000), so each metric is reported beside what the prior-only predictor
fitted on the training split achieves (:mod:`moola.verdict.priors`); the prior's values go
by the ``baseline_*`` keys that ``metrics.json`` has always used.

Validation sets may be larger than memory allows to score at once, so the metrics are
gathered chunk by chunk (:class:`MetricSums`): every metric is a mean over some elements
(kept as its chunks' means and their element counts) or an F1 (kept as true and false
positive and negative counts). Over one chunk the result is, bit for bit, the metric of
the whole set; over several, each mean is the count-weighted mean of its chunks' means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from moola.tasks import RegressionTask, TaskSet
from moola.verdict.priors import Prior

#: A mean over some elements: its value and how many elements it averages.
Mean = tuple[float, float]
#: An F1's counts: true positives, false positives, false negatives.
Counts = tuple[float, float, float]


@dataclass
class MetricSums:
    """Every head's metrics, gathered chunk by chunk (:meth:`add`), read with :meth:`metrics`."""

    tasks: TaskSet
    window: int
    priors: Mapping[str, Prior]
    means: dict[str, dict[str, list[Mean]]] = field(default_factory=dict)
    counts: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    #: type: per class, its recall's means (the balanced accuracy averages the classes seen)
    recalls: dict[int, list[Mean]] = field(default_factory=dict)

    def _mean(self, head: str, key: str, values: torch.Tensor) -> None:
        n = float(values.numel())
        if n:
            value = float(values.double().mean())
            self.means.setdefault(head, {}).setdefault(key, []).append((value, n))
        else:
            self.means.setdefault(head, {}).setdefault(key, [])

    def _f1(self, head: str, key: str, predicted: torch.Tensor, actual: torch.Tensor) -> None:
        tp = float((predicted & actual).sum())
        fp = float((predicted & ~actual).sum())
        fn = float((~predicted & actual).sum())
        total = self.counts.setdefault(head, {}).setdefault(key, [0.0, 0.0, 0.0])
        total[0], total[1], total[2] = total[0] + tp, total[1] + fp, total[2] + fn

    def add(self, outputs: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]) -> None:
        """One chunk: the model's raw outputs (by output key) and the targets (by task)."""
        names, tasks, priors = set(self.tasks.names), self.tasks, self.priors
        if "type" in names:
            y = targets["type"].long()
            predicted = outputs[tasks["type"].output_key].argmax(dim=1)
            self._mean("type", "accuracy", predicted == y)
            prior = priors["type"].metric_prediction
            self._mean("type", "baseline_accuracy", y.cpu() == prior)
            for c in torch.unique(y).tolist():
                hit = predicted[y == c] == c
                self.recalls.setdefault(int(c), []).append(
                    (float(hit.double().mean()), float(hit.numel()))
                )
        if "pointers" in names:
            task = tasks["pointers"]
            assert isinstance(task, RegressionTask)
            truth = targets["pointers"] / task.target_scale
            self._mean("pointers", "mae_bars", (outputs[task.output_key] - truth).abs())
            natural = (targets["pointers"].detach().cpu().double() / task.target_scale).reshape(
                len(truth), -1
            )
            prior = priors["pointers"].metric_prediction
            self._mean("pointers", "baseline_mae_bars", (prior[None, :] - natural).abs())
        if "binary" in names:
            y = targets["binary"] > 0.5
            prob = torch.sigmoid(outputs[tasks["binary"].output_key])
            self._f1("binary", "f1", prob > 0.5, y)
            inside = y.detach().cpu().reshape(len(y), -1)
            mask = priors["binary"].metric_prediction[None, :].expand_as(inside)
            self._f1("binary", "baseline_f1", mask, inside)  # the per-position prior's F1
            self._f1("binary", "all_in_span_f1", torch.ones_like(y), y)  # the one constant's
            self._mean("binary", "in_span_prob", prob[y])
            self._mean("binary", "out_span_prob", prob[~y])
        if "countdown" in names:
            task = tasks["countdown"]
            assert isinstance(task, RegressionTask)
            pred_bars = task.natural_prediction(outputs[task.output_key])
            truth = targets["countdown"] / task.target_scale
            self._mean("countdown", "mae_bars", (pred_bars - truth).abs())
            natural = (targets["countdown"].detach().cpu().double() / task.target_scale).reshape(
                len(truth), -1
            )
            fitted = priors["countdown"]
            self._mean("countdown", "baseline_mae_bars", (fitted.metric_prediction - natural).abs())
            constant = fitted.constant  # fit_priors sets it; a run's saved priors lack it
            if constant is not None:
                diff = (constant.to(truth.device) - truth).abs()
                self._mean("countdown", "constant_mae_bars", diff)

    def _value(self, head: str, key: str) -> float:
        parts = self.means.get(head, {}).get(key, [])
        return combine(parts)

    def metrics(self) -> dict[str, dict[str, float]]:
        """Per head (of JadeCompact's four that the tasks hold): its metric and the prior's."""
        names = set(self.tasks.names)
        out: dict[str, dict[str, float]] = {}
        if "type" in names:
            recalls = [combine(self.recalls[c]) for c in sorted(self.recalls)]
            out["type"] = {
                "accuracy": self._value("type", "accuracy"),
                "baseline_accuracy": self._value("type", "baseline_accuracy"),
                "balanced_accuracy": sum(recalls) / len(recalls),
            }
        if "pointers" in names:
            out["pointers"] = {
                "mae_bars": self._value("pointers", "mae_bars") * self.window,
                "baseline_mae_bars": self._value("pointers", "baseline_mae_bars") * self.window,
            }
        if "binary" in names:
            counts = self.counts["binary"]
            out["binary"] = {
                "f1": f1_of(counts["f1"]),
                "baseline_f1": f1_of(counts["baseline_f1"]),
                "all_in_span_f1": f1_of(counts["all_in_span_f1"]),
                "in_span_prob": self._value("binary", "in_span_prob"),
                "out_span_prob": self._value("binary", "out_span_prob"),
            }
        if "countdown" in names:
            out["countdown"] = {
                "mae_bars": self._value("countdown", "mae_bars"),
                "baseline_mae_bars": self._value("countdown", "baseline_mae_bars"),
            }
            if "constant_mae_bars" in self.means.get("countdown", {}):  # left out without it
                out["countdown"]["constant_mae_bars"] = self._value(
                    "countdown", "constant_mae_bars"
                )
        return out


def combine(parts: list[Mean]) -> float:
    """The count-weighted mean of chunk means (one chunk: its mean exactly); NaN for none."""
    total = sum(n for _, n in parts)
    if not total:
        return float("nan")
    value = 0.0
    for mean, n in parts:
        value += (n / total) * mean
    return value


def f1_of(counts: list[float]) -> float:
    tp, fp, fn = counts
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def task_metrics(
    outputs: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    tasks: TaskSet,
    train_targets: Mapping[str, torch.Tensor] | None = None,
    *,
    window: int,
    priors: Mapping[str, Prior],
) -> dict[str, dict[str, float]]:
    """Per head (of JadeCompact's four that ``tasks`` holds): its metric and the prior's, on
    one set of outputs. ``outputs`` are the model's raw outputs by output key; ``priors``
    were fitted on the training targets (the countdown's one-number constant is theirs,
    left out for priors without it: ``moola predict`` has the run's saved priors, not its
    targets; ``train_targets`` is kept for callers that pass it)."""
    sums = MetricSums(tasks, window, priors)
    sums.add(outputs, targets)
    return sums.metrics()
