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
    class; binary: in-span probability per position and the F1 position mask). ``constant``
    (regression heads): the one-number constant, the lower median of every training target
    in natural units as float32 (the countdown's ``constant_mae_bars`` compares with it).
    """

    loss_prediction: torch.Tensor
    metric_prediction: torch.Tensor
    constant: torch.Tensor | None = None


def huber_minimiser_per_column(
    values: np.ndarray, delta: float, weights: np.ndarray | None = None
) -> np.ndarray:
    """Per column c, the constant minimising the (``weights``-weighted) mean
    Huber_δ(c − values[:, c]) (bisection)."""
    v = np.asarray(values, dtype=np.float64)
    w = np.ones(len(v)) if weights is None else np.asarray(weights, dtype=np.float64)
    total = w.sum()
    lo, hi = v.min(axis=0), v.max(axis=0)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        slope = np.add.reduce(w[:, None] * np.clip(mid[None, :] - v, -delta, delta), axis=0)
        above = slope / total > 0
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return 0.5 * (lo + hi)


def _ranked(values: np.ndarray, weights: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Per column, the values at ``ranks`` (0-based) of the weighted values sorted (a value
    of weight w fills w ranks): (len(ranks), columns)."""
    order = np.argsort(values, axis=0, kind="stable")
    cumulative = np.cumsum(weights[order], axis=0)  # (n, columns)
    out = np.empty((len(ranks), values.shape[1]))
    for c in range(values.shape[1]):
        at = np.searchsorted(cumulative[:, c], ranks, side="right")
        out[:, c] = values[order[at, c], c]
    return out


def median_per_column(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Per column, the median of the (``weights``-weighted, whole-number weights) values:
    ``np.median``'s (the mean of the two middle values of an even count)."""
    v = np.asarray(values, dtype=np.float64)
    if weights is None:
        return np.median(v, axis=0)
    w = np.asarray(weights, dtype=np.float64)
    n = round(float(w.sum()))
    middle = _ranked(v, w, np.array([(n - 1) // 2, n // 2]))
    return (middle[0] + middle[1]) / 2.0


def lower_median(values: torch.Tensor, weights: np.ndarray | None = None) -> torch.Tensor:
    """The lower median of every value of (n, ...) ``values`` (rows weighted by whole-number
    ``weights``), as ``torch.median`` gives it for the rows repeated: a 0-dim tensor of
    ``values``' dtype."""
    if weights is None:
        return values.median()
    rows = values.reshape(len(values), -1)
    flat = rows.reshape(-1, 1).double().numpy()
    w = np.repeat(np.asarray(weights, dtype=np.float64), rows.shape[1])
    n = round(float(w.sum()))
    at = _ranked_index(flat[:, 0], w, (n - 1) // 2)
    return rows.reshape(-1)[at].clone()


def _ranked_index(values: np.ndarray, weights: np.ndarray, rank: int) -> int:
    order = np.argsort(values, kind="stable")
    return int(order[np.searchsorted(np.cumsum(weights[order]), rank, side="right")])


def best_f1_positions(inside: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """The position mask that maximises training F1 among the top-m positions by in-span rate
    (rows weighted by whole-number ``weights``: a row of weight w counts w times)."""
    y = inside.double()
    if weights is not None:
        y = y * weights.double()[:, None]
    n = inside.shape[0] if weights is None else float(weights.double().sum())
    k = y.shape[1]
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


def fit_priors(
    tasks: TaskSet,
    train_targets: Mapping[str, torch.Tensor],
    *,
    weights: np.ndarray | torch.Tensor | None = None,
) -> dict[str, Prior]:
    """Every head's prior, fitted on the training targets only. ``weights``: how many
    training windows each row stands for (whole numbers; :func:`fit_label_priors` fits on
    each distinct label once, weighted by its count)."""
    w = None if weights is None else torch.as_tensor(np.asarray(weights), dtype=torch.float64)
    w_np = None if w is None else w.numpy()
    priors: dict[str, Prior] = {}
    for task in tasks:
        y = train_targets[task.name].detach().cpu()
        if isinstance(task, TypeTask):
            counts = torch.bincount(y.long(), weights=w, minlength=task.n_classes).double()
            log_prior = ((counts + 1e-12) / counts.sum()).log()
            priors[task.name] = Prior(log_prior, counts.argmax())
        elif isinstance(task, RegressionTask):
            natural = (y.double() / task.target_scale).reshape(y.shape[0], -1).numpy()
            huber = huber_minimiser_per_column(natural, task.delta, w_np)
            median = median_per_column(natural, w_np)  # the MAE minimiser
            constant = lower_median(y / task.target_scale, w_np)
            priors[task.name] = Prior(torch.from_numpy(huber), torch.from_numpy(median), constant)
        elif isinstance(task, BinarySpanTask):
            inside = y > 0.5
            hits = inside.double() if w is None else inside.double() * w[:, None]
            n = inside.shape[0] if w is None else float(w.sum())
            rate = (hits.sum(dim=0) + 0.5) / (n + 1.0)
            priors[task.name] = Prior(rate, best_f1_positions(inside, w))
    return priors


def fit_label_priors(tasks: TaskSet, labels: np.ndarray, window: int) -> dict[str, Prior]:
    """Every head's prior from the training windows' labels ((n, 3): label,
    expansion_start, expansion_end): the targets of each distinct label once, weighted by
    how many windows have it, so that no (n, K) target array is ever made. The same
    predictors as :func:`fit_priors` on every window's targets (the Huber minimisers up to
    their last bits: the weighted sums round differently)."""
    rows = np.asarray(labels, dtype=np.int64).reshape(-1, 3)
    distinct, counts = np.unique(rows, axis=0, return_counts=True)
    t = torch.from_numpy(np.ascontiguousarray(distinct))
    targets = tasks.build_targets(t[:, 0], t[:, 1], t[:, 2], window)
    return fit_priors(tasks, targets, weights=counts.astype(np.float64))


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


def label_prior_window_losses(
    tasks: TaskSet,
    priors: Mapping[str, Prior],
    labels: np.ndarray,
    window: int,
    *,
    chunk: int = 4096,
) -> dict[str, torch.Tensor]:
    """:func:`prior_window_losses` on the windows of ``labels`` ((n, 3): label,
    expansion_start, expansion_end), their targets built ``chunk`` windows at a time (never
    all at once): (n,) per head, the same values as on every window's targets at once."""
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in tasks.names}
    for a in range(0, len(labels), chunk):
        rows = torch.from_numpy(np.ascontiguousarray(labels[a : a + chunk], dtype=np.int64))
        targets = tasks.build_targets(rows[:, 0], rows[:, 1], rows[:, 2], window)
        for name, value in prior_window_losses(tasks, priors, targets).items():
            parts[name].append(value)
    return {name: torch.cat(values) for name, values in parts.items()}


def label_prior_losses(
    tasks: TaskSet,
    priors: Mapping[str, Prior],
    labels: np.ndarray,
    window: int,
    *,
    chunk: int = 4096,
) -> dict[str, float]:
    """:func:`prior_losses` on the windows of ``labels`` (:func:`label_prior_window_losses`)."""
    losses = label_prior_window_losses(tasks, priors, labels, window, chunk=chunk)
    return {name: float(values.mean()) for name, values in losses.items()}


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
