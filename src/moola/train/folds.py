"""Walk-forward folds: K expanding-window folds in time, each purged; only test blocks judge.

One validation split both picks the best weights and judges them, and it is small. Here the
timeline of every series (``start_bar``, or the one recovered from shared bars,
:mod:`moola.data.overlap`) is cut into ``K + 1`` equal blocks of bars. Fold ``f`` (1..K)

* trains on the windows that end at least ``embargo`` bars before block ``f`` starts (an
  expanding window: blocks ``0..f−1``), with the usual run: its own inner purged split
  picks the best weights (and early-stops with ``patience``);
* is judged on the windows that start in block ``f`` (its test block), which no training
  window of the fold shares a bar with, by the best weights: never chosen on these windows.

Windows that share no bars (the synthetic market) are taken in row order as the timeline.
Each fold's prior baselines are fitted on its own training part. The pooled verdict scores
the test windows of all folds together (loss vs prior, the paired block-bootstrap interval
over the pooled windows in time order, metrics as window-weighted means of the folds'), and
every fold is reported on its own too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from moola.data import OHLCWindows, WindowDataset
from moola.data.overlap import DEFAULT_EMBARGO, detect_series, overlap_run
from moola.errors import ConfigError
from moola.models.jade_core import OUTPUT_KEYS
from moola.train.best import copy_weights
from moola.train.config import TrainConfig
from moola.train.loop import Trainer
from moola.train.metrics import predict, task_metrics, verdict
from moola.train.paired import BlockBootstrap, paired_interval
from moola.train.priors import fit_priors, prior_window_losses, window_losses
from moola.train.setup import load_data

FOLDS_NAME = "folds.json"


def timeline(windows: OHLCWindows) -> tuple[np.ndarray, np.ndarray]:
    """(start_bar, series) per window: given, recovered from shared bars, or row order."""
    n, k = len(windows), windows.window
    if windows.start_bar is not None:
        series = windows.series if windows.series is not None else np.zeros(n, dtype=np.int64)
        return windows.start_bar, series
    layout = detect_series(windows.ohlc)
    # Windows that share no bars: row order is their time order, one window after another,
    # as one more series beside the recovered ones.
    lone = ~layout.linked
    starts, series = layout.start_bar.copy(), layout.series.copy()
    if lone.any():
        _, series[~lone] = np.unique(series[~lone], return_inverse=True)
        series[lone] = int(series[~lone].max()) + 1 if (~lone).any() else 0
        starts[lone] = np.arange(int(lone.sum()), dtype=np.int64) * k
    return starts, series


def fold_indices(
    start_bar: np.ndarray,
    series: np.ndarray,
    *,
    window: int,
    folds: int,
    embargo: int = DEFAULT_EMBARGO,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per fold, sorted (train, test) row indices; no test window shares a bar with training."""
    if folds < 1:
        raise ConfigError(f"folds must be >= 1, got {folds}")
    if embargo < 0:
        raise ConfigError(f"embargo must be >= 0 bars, got {embargo}")
    starts, ids = np.asarray(start_bar, dtype=np.int64), np.asarray(series, dtype=np.int64)
    out = []
    for f in range(1, folds + 1):
        train = np.zeros(len(starts), dtype=bool)
        test = np.zeros(len(starts), dtype=bool)
        for s in np.unique(ids):
            rows = ids == s
            first, end = int(starts[rows].min()), int(starts[rows].max()) + window
            edges = [first + round(i * (end - first) / (folds + 1)) for i in range(folds + 2)]
            train |= rows & (starts + window + embargo <= edges[f])
            test |= rows & (starts >= edges[f]) & (starts < edges[f + 1])
        train_idx, test_idx = np.flatnonzero(train), np.flatnonzero(test)
        if len(train_idx) < 4 or len(test_idx) == 0:
            raise ConfigError(
                f"fold {f} of {folds} has {len(train_idx)} training and {len(test_idx)} test "
                "windows; use fewer folds or more data"
            )
        out.append((train_idx.astype(np.int64), test_idx.astype(np.int64)))
    return out


@dataclass
class FoldScores:
    """One fold's test block: per head, per-window losses (head, initial, prior) and metrics."""

    fold: int
    n_train: int
    n_test: int
    best_step: int | None
    head: dict[str, np.ndarray]
    initial: dict[str, np.ndarray]
    prior: dict[str, np.ndarray]
    metrics: dict[str, dict[str, float]]
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)


def judge(
    names: tuple[str, ...],
    head: dict[str, np.ndarray],
    initial: dict[str, np.ndarray],
    prior: dict[str, np.ndarray],
    metrics: dict[str, dict[str, float]],
    boot: BlockBootstrap,
) -> dict[str, dict[str, Any]]:
    """Per head: losses, the paired interval and the verdict on these test windows."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        interval = paired_interval(head[name], prior[name], boot)
        m = {**metrics.get(name, {}), **interval}
        final, base, init = (
            float(head[name].mean()),
            float(prior[name].mean()),
            float(initial[name].mean()),
        )
        v = verdict(name, initial=init, final=final, baseline=base, metrics=m)
        out[name] = {
            "initial": init,
            "final": final,
            "baseline": base,
            "learned": v.learned,
            "why": v.why,
            "metrics": m,
        }
    return out


def score_fold(
    fold: int,
    windows: OHLCWindows,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    config: TrainConfig,
    order_key: np.ndarray,
) -> FoldScores:
    """Train on the fold's training part (best weights by its inner split), score its test block."""
    trainer = Trainer(
        dataclasses.replace(config, out_dir=None, progress=False), windows=windows.subset(train_idx)
    )
    initial_weights = copy_weights(trainer.model)
    result = trainer.fit()
    if result.best is not None:
        trainer.model.load_state_dict(result.best.weights)
    tasks = trainer.tasks
    test = WindowDataset(windows.subset(test_idx), feature_set=config.features)
    targets = tasks.build_targets(
        test.label, test.expansion_start, test.expansion_end, trainer.data.window
    )
    fold_train = {
        k: torch.cat([trainer.data.y_train[k], trainer.data.y_val[k]]).cpu()
        for k in trainer.data.y_train
    }
    x = test.x.to(trainer.device)

    def head_losses() -> tuple[dict[str, np.ndarray], dict[str, torch.Tensor]]:
        outputs = {k: v.cpu() for k, v in predict(trainer.model, x).items()}
        by_task = {t.name: outputs[OUTPUT_KEYS[t.name]] for t in tasks}
        losses = window_losses(tasks, by_task, targets)
        return {k: v.numpy() for k, v in losses.items()}, outputs

    head, outputs = head_losses()
    priors = fit_priors(tasks, fold_train)  # once, for the metrics and the prior's losses
    metrics = task_metrics(
        outputs, targets, tasks, fold_train, window=trainer.data.window, priors=priors
    )
    trainer.model.load_state_dict(initial_weights)
    initial, _ = head_losses()
    prior = {k: v.numpy() for k, v in prior_window_losses(tasks, priors, targets).items()}
    order = np.argsort(order_key[test_idx], kind="stable")
    sort = {k: v[order] for k, v in head.items()}, {k: v[order] for k, v in initial.items()}
    scores = FoldScores(
        fold,
        len(train_idx),
        len(test_idx),
        None if result.best is None else result.best.step,
        sort[0],
        sort[1],
        {k: v[order] for k, v in prior.items()},
        metrics,
    )
    boot = BlockBootstrap(
        np.arange(len(test_idx)),
        overlap_run=overlap_run(order_key[test_idx], trainer.data.window),
        seed=config.seed,
    )
    scores.tasks = judge(tasks.names, scores.head, scores.initial, scores.prior, metrics, boot)
    return scores


def pooled_metrics(folds: list[FoldScores]) -> dict[str, dict[str, float]]:
    """Each metric (and its prior's) as the test-window-weighted mean over folds."""
    weights = np.array([f.n_test for f in folds], dtype=np.float64)
    out: dict[str, dict[str, float]] = {}
    for name in folds[0].metrics:
        keys = folds[0].metrics[name].keys()
        out[name] = {
            key: float(np.average([f.metrics[name][key] for f in folds], weights=weights))
            for key in keys
        }
    return out


def run_folds(
    config: TrainConfig,
    folds: int,
    *,
    windows: OHLCWindows | None = None,
    embargo: int | None = None,
    on_fold: Callable[[FoldScores], None] | None = None,
) -> dict[str, Any]:
    """Train and judge ``folds`` walk-forward folds; the ``folds.json`` document. ``embargo``
    defaults to the config's."""
    embargo = config.embargo if embargo is None else embargo
    windows = windows if windows is not None else load_data(config)
    windows.validate()
    starts, series = timeline(windows)
    order_key = series * (int(starts.max()) + 2 * windows.window) + starts  # time, series by series
    scored = []
    for f, (train_idx, test_idx) in enumerate(
        fold_indices(starts, series, window=windows.window, folds=folds, embargo=embargo), 1
    ):
        scores = score_fold(f, windows, train_idx, test_idx, config, order_key)
        scored.append(scores)
        if on_fold is not None:
            on_fold(scores)
    names = tuple(scored[0].head)
    pooled = {
        part: {name: np.concatenate([getattr(s, part)[name] for s in scored]) for name in names}
        for part in ("head", "initial", "prior")
    }
    n = len(pooled["head"][names[0]])
    runs = max(
        overlap_run(order_key[idx], windows.window)
        for _, idx in fold_indices(
            starts, series, window=windows.window, folds=folds, embargo=embargo
        )
    )
    boot = BlockBootstrap(np.arange(n), overlap_run=runs, seed=config.seed)
    tasks = judge(
        names, pooled["head"], pooled["initial"], pooled["prior"], pooled_metrics(scored), boot
    )
    return {
        "folds": folds,
        "embargo": embargo,
        "config": config.to_dict(),
        "pooled": {"n_test": n, "tasks": tasks},
        "per_fold": [
            {
                "fold": s.fold,
                "n_train": s.n_train,
                "n_test": s.n_test,
                "best_step": s.best_step,
                "tasks": s.tasks,
            }
            for s in scored
        ],
    }
