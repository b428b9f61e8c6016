"""Walk-forward folds: K expanding-window folds in time, each purged; only test blocks judge.

One validation split both picks the best weights and judges them, and it is small. Here the
timeline of every series (``start_bar``, or the one recovered from shared bars) is cut into
``K + 1`` equal blocks of bars by :func:`moola.data.splits.fold_indices`. Fold ``f`` (1..K)

* trains on the windows that end at least ``embargo`` bars before block ``f`` starts (an
  expanding window: blocks ``0..f−1``), with the usual run: its own inner purged split
  picks the best weights (and early-stops with ``patience``);
* is judged on the windows that start in block ``f`` (its test block), which no training
  window of the fold shares a bar with, by the best weights: never chosen on these windows.

Windows that share no bars (the synthetic market) are taken in row order as the timeline.
Each fold's priors are fitted on its own training part. The pooled verdict scores the test
windows of all folds together (loss vs prior, the paired block-bootstrap interval over the
pooled windows in time order, metrics as window-weighted means of the folds'), and every
fold is reported on its own too. Every verdict goes through :func:`moola.verdict.judge_windows`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moola.data import OHLCWindows
from moola.data.corpus import Corpus
from moola.data.splits import fold_indices, fold_timeline, overlap_run
from moola.data.splits import timeline as timeline  # re-exported (older imports)
from moola.models.forward import forward_eval
from moola.train.config import TrainConfig
from moola.train.loop.trainer import Trainer
from moola.train.objectives.base import EVAL_CHUNK
from moola.train.objectives.labelled import LabelledPart
from moola.train.objectives.supervised import as_corpus, load_data
from moola.verdict import (
    BlockBootstrap,
    MetricSums,
    Verdict,
    fit_label_priors,
    judge_windows,
    prior_window_losses,
    window_losses,
)
from moola.verdict.power import expected_half_widths, small_part_warning
from moola.verdict.summary import summary_line


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
    #: What the fold noticed (``{"kind", "text"}``, the text naming the fold): its inner
    #: validation or its test block too small to decide, a clamped batch, an overfit.
    warnings: list[dict[str, str]] = field(default_factory=list)


@dataclass
class FoldsResult:
    """What :func:`run_folds` returns: the ``folds.json`` document, and the pooled verdict."""

    doc: dict[str, Any]

    @property
    def verdict(self) -> dict[str, Verdict]:
        """Per head, the pooled verdict over every fold's test block."""
        return {
            name: Verdict(t["learned"], t["why"]) for name, t in self.doc["pooled"]["tasks"].items()
        }

    @property
    def learned(self) -> bool:
        """True when every head learned (pooled over the folds)."""
        return all(v.learned for v in self.verdict.values())


def score_fold(
    fold: int,
    corpus: Corpus,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    config: TrainConfig,
    order_key: np.ndarray,
) -> FoldScores:
    """Train on the fold's training part (best weights by its inner split), score its test block.

    The fold's run writes no folder and records no telemetry (``folds.json`` holds neither);
    with ``tensorboard_dir`` its scalars go to ``<dir>/fold<N>``, one TensorBoard run per
    fold (their steps overlap)."""
    board = config.tensorboard_dir
    trainer = Trainer(
        dataclasses.replace(
            config,
            out_dir=None,
            progress=False,
            telemetry_every=0,
            tensorboard_dir=None if board is None else str(Path(board) / f"fold{fold}"),
        ),
        windows=corpus.subset(train_idx),
    )
    initial_weights = trainer.initial_weights  # untrained, also under --init
    result = trainer.fit()
    if result.best is not None:
        trainer.model.load_state_dict(result.best.weights)
    tasks, window = trainer.tasks, trainer.data.window
    split = trainer.data.split
    # the fold's priors: its training and inner-validation windows (not the purged ones)
    inner = np.concatenate([split.train, split.val])
    priors = fit_label_priors(tasks, corpus.labels(train_idx[inner]), window)
    test = LabelledPart(corpus, test_idx, tasks)

    def head_losses(collect: MetricSums | None) -> dict[str, np.ndarray]:
        parts: dict[str, list[torch.Tensor]] = {name: [] for name in tasks.names}
        for x, targets in test.chunks(EVAL_CHUNK):
            outputs = forward_eval(trainer.model, x)
            by_task = {t.name: outputs[t.output_key] for t in tasks}
            for name, value in window_losses(tasks, by_task, targets).items():
                parts[name].append(value)
            if collect is not None:
                collect.add(outputs, targets)
        return {k: torch.cat(v).numpy() for k, v in parts.items()}

    sums = MetricSums(tasks, window, priors)  # once, for the metrics and the prior's losses
    head = head_losses(sums)
    metrics = sums.metrics()
    trainer.model.load_state_dict(initial_weights)
    initial = head_losses(None)
    prior_parts: dict[str, list[torch.Tensor]] = {name: [] for name in tasks.names}
    for _, targets in test.chunks(EVAL_CHUNK):
        for name, value in prior_window_losses(tasks, priors, targets).items():
            prior_parts[name].append(value)
    prior = {k: torch.cat(v).numpy() for k, v in prior_parts.items()}
    order = np.argsort(order_key[test_idx], kind="stable")
    scores = FoldScores(
        fold,
        len(train_idx),
        len(test_idx),
        None if result.best is None else result.best.step,
        {k: v[order] for k, v in head.items()},
        {k: v[order] for k, v in initial.items()},
        {k: v[order] for k, v in prior.items()},
        metrics,
    )
    boot = BlockBootstrap(
        np.arange(len(test_idx)),
        overlap_run=overlap_run(order_key[test_idx], window),
        seed=config.seed,
    )
    scores.tasks = judge_windows(
        tasks.names, scores.head, scores.initial, scores.prior, metrics, boot
    )
    test_warning = small_part_warning(
        "test block",
        len(test_idx),
        expected_half_widths(scores.prior, boot),
        advice="use fewer --folds or more data",
    )
    noticed = result.warnings + ([] if test_warning is None else [test_warning])
    scores.warnings = [{**w, "text": f"fold {fold}: {w['text']}"} for w in noticed]
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
    folds: int | None = None,
    *,
    windows: OHLCWindows | Corpus | None = None,
    embargo: int | None = None,
    on_fold: Callable[[FoldScores], None] | None = None,
) -> FoldsResult:
    """Train and judge ``folds`` (default: the config's) walk-forward folds. ``embargo``
    defaults to the config's."""
    folds = config.folds if folds is None else folds
    embargo = config.embargo if embargo is None else embargo
    corpus = as_corpus(windows, config) if windows is not None else load_data(config)
    k = corpus.window
    starts, series = fold_timeline(corpus.timeline)
    order_key = series * (int(starts.max()) + 2 * k) + starts  # time, series by series
    cuts = fold_indices(starts, series, window=k, folds=folds, embargo=embargo)
    scored = []
    for f, (train_idx, test_idx) in enumerate(cuts, 1):
        scores = score_fold(f, corpus, train_idx, test_idx, config, order_key)
        scored.append(scores)
        if on_fold is not None:
            on_fold(scores)
    names = tuple(scored[0].head)
    pooled = {
        part: {name: np.concatenate([getattr(s, part)[name] for s in scored]) for name in names}
        for part in ("head", "initial", "prior")
    }
    n = len(pooled["head"][names[0]])
    runs = max(overlap_run(order_key[idx], k) for _, idx in cuts)
    boot = BlockBootstrap(np.arange(n), overlap_run=runs, seed=config.seed)
    tasks = judge_windows(
        names, pooled["head"], pooled["initial"], pooled["prior"], pooled_metrics(scored), boot
    )
    sizes = sorted(s.n_train for s in scored)
    summary = summary_line(
        tasks,
        n_train=f"{sizes[0]}–{sizes[-1]}" if sizes[0] != sizes[-1] else sizes[0],
        n_held=n,
        held="test",
        weights=f"pooled over {folds} folds, each fold's best weights",
    )
    return FoldsResult(
        {
            "folds": folds,
            "embargo": embargo,
            "config": config.to_dict(),
            "summary": summary,
            "warnings": [w for s in scored for w in s.warnings],
            "pooled": {"n_test": n, "tasks": tasks},
            "per_fold": [
                {
                    "fold": s.fold,
                    "n_train": s.n_train,
                    "n_test": s.n_test,
                    "best_step": s.best_step,
                    "tasks": s.tasks,
                    "warnings": s.warnings,
                }
                for s in scored
            ],
        }
    )
