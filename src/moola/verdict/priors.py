"""The priors: per head, the best predictor that never looks at the prices, fitted on training.

A head is judged against what it could reach without any signal. One number per head is not
that predictor: a per-bar target is largely predictable from the bar's *position* alone
(expansions sit in some parts of the window more than in others), so a head that learned
only where expansions usually are would beat a single constant and be called "learned".
Each prior here is fitted per **output column** of the target on the training split only:

* type: the training class prior (log-prior logits for the loss; the majority class for
  accuracy);
* pointers (columns: center, length): the Huber-δ minimiser per column for the loss, the
  median per column for the MAE;
* countdown (columns: bar positions): the Huber-δ minimiser per bar position for the loss
  (δ = 1 bar, the head's loss), the median per position for the MAE;
* binary (columns: bar positions): the in-span rate per position (Jeffreys-smoothed, so an
  unseen position costs a finite loss) for the BCE; for span F1, the set of positions that
  maximises the training F1 among "the m most often in-span positions" (m = K is the
  all-in-span constant, so this prior is never weaker than it on training).

Losses are in natural units, one value per window, so the verdict can pair them with the
head's losses on the same validation windows (:mod:`moola.verdict.interval`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from moola.tasks import BinarySpanTask, RegressionTask, TaskSet, TypeTask


@dataclass(frozen=True)
class Prior:
    """One head's prior: ``loss_prediction`` minimises its loss, ``metric_prediction`` its metric.

    Natural units, one value per output column (type: log-prior logits and the majority
    class; binary: in-span probability per position and the F1 position mask).
    """

    loss_prediction: torch.Tensor
    metric_prediction: torch.Tensor


def huber_minimiser_per_column(values: np.ndarray, delta: float) -> np.ndarray:
    """Per column c, the constant minimising mean Huber_δ(c − values[:, c]) (bisection)."""
    v = np.asarray(values, dtype=np.float64)
    lo, hi = v.min(axis=0), v.max(axis=0)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        above = np.clip(mid[None, :] - v, -delta, delta).mean(axis=0) > 0
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return 0.5 * (lo + hi)


def best_f1_positions(inside: torch.Tensor) -> torch.Tensor:
    """The position mask that maximises training F1 among the top-m positions by in-span rate."""
    y = inside.double()
    n, k = y.shape
    counts = y.sum(dim=0)
    order = torch.argsort(-counts, stable=True)
    tp = torch.cumsum(counts[order], dim=0)  # predicting the m most often in-span positions
    m = torch.arange(1, k + 1, dtype=torch.float64)
    fp, fn = n * m - tp, counts.sum() - tp
    f1 = torch.where(tp > 0, 2 * tp / (2 * tp + fp + fn), torch.zeros_like(tp))
    best_m = int(torch.argmax(f1)) + 1  # the first maximum: the fewest positions on ties
    mask = torch.zeros(k, dtype=torch.bool)
    mask[order[:best_m]] = True
    return mask


def fit_priors(tasks: TaskSet, train_targets: Mapping[str, torch.Tensor]) -> dict[str, Prior]:
    """Every head's prior, fitted on the training targets only."""
    priors: dict[str, Prior] = {}
    for task in tasks:
        y = train_targets[task.name].detach().cpu()
        if isinstance(task, TypeTask):
            counts = torch.bincount(y.long(), minlength=task.n_classes).double()
            log_prior = ((counts + 1e-12) / counts.sum()).log()
            priors[task.name] = Prior(log_prior, counts.argmax())
        elif isinstance(task, RegressionTask):
            natural = (y.double() / task.target_scale).reshape(y.shape[0], -1).numpy()
            huber = huber_minimiser_per_column(natural, task.delta)
            median = np.median(natural, axis=0)  # the MAE minimiser (mean of the two middles)
            priors[task.name] = Prior(torch.from_numpy(huber), torch.from_numpy(median))
        elif isinstance(task, BinarySpanTask):
            inside = y > 0.5
            rate = (inside.double().sum(dim=0) + 0.5) / (inside.shape[0] + 1.0)
            priors[task.name] = Prior(rate, best_f1_positions(inside))
    return priors


def window_losses(
    tasks: TaskSet, predictions: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Natural-units loss per window of the heads' raw outputs (keyed by task name).

    The mean over windows equals ``tasks.to_natural(tasks.losses(...))``: every window has
    the same number of loss terms.
    """
    losses: dict[str, torch.Tensor] = {}
    for task in tasks:
        out = predictions[task.name].detach().double().cpu()
        y = targets[task.name].detach().cpu()
        if isinstance(task, TypeTask):
            losses[task.name] = F.cross_entropy(out, y.long(), reduction="none")
        elif isinstance(task, RegressionTask):
            pred = task.natural_prediction(out)
            truth = y.double() / task.target_scale
            residual = (pred - truth).reshape(len(y), -1)
            losses[task.name] = _huber(residual, task.delta).mean(dim=1)
        elif isinstance(task, BinarySpanTask):
            bce = F.binary_cross_entropy_with_logits(out, y.double(), reduction="none")
            losses[task.name] = bce.reshape(len(y), -1).mean(dim=1)
    return losses


def prior_window_losses(
    tasks: TaskSet, priors: Mapping[str, Prior], targets: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Natural-units loss per window of each head's prior on ``targets``."""
    losses: dict[str, torch.Tensor] = {}
    for task in tasks:
        prior = priors[task.name].loss_prediction
        y = targets[task.name].detach().cpu()
        n = len(y)
        if isinstance(task, TypeTask):
            losses[task.name] = -prior[y.long()]
        elif isinstance(task, RegressionTask):
            truth = (y.double() / task.target_scale).reshape(n, -1)
            losses[task.name] = _huber(prior[None, :] - truth, task.delta).mean(dim=1)
        elif isinstance(task, BinarySpanTask):
            inside = (y > 0.5).double().reshape(n, -1)
            p = prior[None, :]
            bce = -(inside * p.log() + (1 - inside) * (1 - p).log())
            losses[task.name] = bce.mean(dim=1)
    return losses


def prior_losses(
    tasks: TaskSet, priors: Mapping[str, Prior], targets: Mapping[str, torch.Tensor]
) -> dict[str, float]:
    """What the verdict holds each head's loss against: its prior's mean natural-units loss
    on ``targets``."""
    return {k: float(v.mean()) for k, v in prior_window_losses(tasks, priors, targets).items()}


def prior_metrics(
    tasks: TaskSet,
    priors: Mapping[str, Prior],
    targets: Mapping[str, torch.Tensor],
    *,
    window: int,
) -> dict[str, dict[str, float]]:
    """The prior's value of each head's verdict metric (``metrics.json``'s ``baseline_*`` keys)."""
    out: dict[str, dict[str, float]] = {}
    for task in tasks:
        prior = priors[task.name].metric_prediction
        y = targets[task.name].detach().cpu()
        if isinstance(task, TypeTask):
            out[task.name] = {"baseline_accuracy": float((y.long() == prior).double().mean())}
        elif isinstance(task, RegressionTask):
            truth = (y.double() / task.target_scale).reshape(len(y), -1)
            mae = float((prior[None, :] - truth).abs().mean())
            # Pointers are fractions of the window: their MAE is reported in bars.
            out[task.name] = {"baseline_mae_bars": mae * (window if task.name == "pointers" else 1)}
        elif isinstance(task, BinarySpanTask):
            inside = (y > 0.5).reshape(len(y), -1)
            predicted = prior[None, :].expand_as(inside)
            tp = float((predicted & inside).sum())
            fp = float((predicted & ~inside).sum())
            fn = float((~predicted & inside).sum())
            f1 = 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)
            out[task.name] = {"baseline_f1": f1}
    return out


def _huber(residual: torch.Tensor, delta: float) -> torch.Tensor:
    a = residual.abs()
    return torch.where(a < delta, 0.5 * a * a, delta * (a - 0.5 * delta))
