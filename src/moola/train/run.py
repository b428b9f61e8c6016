"""Fit a trainer and write its outputs: the one code path behind ``moola train`` and ``moola sweep``.

``metrics.json`` is written last, atomically, so its presence means the run finished: a sweep
that was killed mid-run finds no ``metrics.json`` in that run's folder and redoes (or resumes)
only that run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moola.atomic import atomic_write_json
from moola.data import OHLCWindows
from moola.report import plot_loss_curves
from moola.train.config import TrainConfig
from moola.train.folds import FOLDS_NAME, FoldScores, run_folds
from moola.train.loop import ProgressCallback, Trainer
from moola.train.outdir import check_out_dir
from moola.train.result import TrainResult

METRICS_NAME = "metrics.json"
PLOT_NAME = "loss_curves.png"


@dataclass
class RunOutputs:
    """What a finished run produced: the metrics document and the files written."""

    metrics: dict[str, Any]
    result: TrainResult
    metrics_path: Path | None
    checkpoint: Path | None
    plot: Path | None  # None when matplotlib is not installed


def train_and_write(
    trainer: Trainer,
    out_dir: str | Path | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> RunOutputs:
    """Train to ``config.steps`` and write checkpoint, plot, then ``metrics.json`` (last).

    ``out_dir`` defaults to ``trainer.config.out_dir``; a sweep executor on another machine
    passes a local staging folder instead (periodic checkpoints go there too). With neither,
    nothing is written. ``progress`` is called at every log interval (the CLI's progress bar).
    ``metrics["timing"]["fit_seconds"]`` is the wall time of this fit (of the resumed part
    only, for a resumed run).
    """
    started = time.perf_counter()
    target = out_dir if out_dir is not None else trainer.config.out_dir
    result = trainer.fit(progress, checkpoint_dir=target)
    metrics = result.to_metrics()
    metrics["timing"] = {"fit_seconds": time.perf_counter() - started}
    if trainer.auto_threads is not None:  # the count the load left at the end (moola.threads)
        metrics["timing"]["threads_at_end"] = trainer.auto_threads.threads
    if target is None:
        return RunOutputs(metrics, result, None, None, None)
    return write_outputs(trainer, metrics, result, Path(target))


def write_outputs(
    trainer: Trainer, metrics: dict[str, Any], result: TrainResult, out: Path
) -> RunOutputs:
    """Checkpoint and plot first, ``metrics.json`` last: its presence marks a finished run."""
    check_out_dir(out)
    checkpoint = trainer.save(out)
    plot = plot_loss_curves(metrics, out / PLOT_NAME)
    metrics_path = atomic_write_json(out / METRICS_NAME, metrics)
    return RunOutputs(metrics, result, metrics_path, checkpoint, plot)


def folds_and_write(
    config: TrainConfig,
    out_dir: str | Path | None = None,
    *,
    windows: OHLCWindows | None = None,
    on_fold: Callable[[FoldScores], None] | None = None,
) -> dict[str, Any]:
    """``config.folds`` walk-forward folds (:func:`moola.train.folds.run_folds`); writes
    ``folds.json`` and then a ``metrics.json`` (last, as for one split) whose ``tasks`` are the
    pooled verdicts, so ``moola league`` ranks fold runs like any other. Returns the metrics."""
    started = time.perf_counter()
    doc = run_folds(config, config.folds, windows=windows, on_fold=on_fold)
    metrics: dict[str, Any] = {
        "config": config.to_dict(),
        "tasks": doc["pooled"]["tasks"],
        "best": None,
        "folds": {k: doc[k] for k in ("folds", "embargo", "per_fold")},
        "n_test": doc["pooled"]["n_test"],
        "timing": {"fit_seconds": time.perf_counter() - started},
    }
    target = out_dir if out_dir is not None else config.out_dir
    if target is not None:
        out = Path(target)
        check_out_dir(out)
        atomic_write_json(out / FOLDS_NAME, doc)
        atomic_write_json(out / METRICS_NAME, metrics)
    return metrics
