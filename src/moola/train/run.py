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
from moola.report import plot_loss_curves
from moola.train.checkpoint import CHECKPOINT_NAME
from moola.train.loop import Trainer, TrainResult
from moola.train.outdir import check_out_dir

METRICS_NAME = "metrics.json"
PLOT_NAME = "loss_curves.png"

#: How to fit: ``trainer.fit()`` by default; the CLI wraps it in a progress bar.
FitFunction = Callable[[Trainer], TrainResult]


@dataclass
class RunOutputs:
    """What a finished run produced: the metrics document and the files written."""

    metrics: dict[str, Any]
    metrics_path: Path | None
    checkpoint: Path | None
    plot: Path | None  # None when matplotlib is not installed


def train_and_write(
    trainer: Trainer, out_dir: str | Path | None = None, *, fit: FitFunction | None = None
) -> RunOutputs:
    """Train to ``config.steps`` and write checkpoint, plot, then ``metrics.json`` (last).

    ``out_dir`` defaults to ``trainer.config.out_dir``; a sweep executor on another machine
    passes a local staging folder instead. With neither, nothing is written.
    ``metrics["timing"]["fit_seconds"]`` is the wall time of this fit (of the resumed part
    only, for a resumed run).
    """
    started = time.perf_counter()
    result = fit(trainer) if fit is not None else trainer.fit()
    metrics = result.to_metrics()
    metrics["timing"] = {"fit_seconds": time.perf_counter() - started}
    if trainer.auto_threads is not None:  # the count the load left at the end (moola.threads)
        metrics["timing"]["threads_at_end"] = trainer.auto_threads.threads
    target = out_dir if out_dir is not None else trainer.config.out_dir
    if target is None:
        return RunOutputs(metrics, None, None, None)
    return write_outputs(trainer, metrics, Path(target))


def write_outputs(trainer: Trainer, metrics: dict[str, Any], out: Path) -> RunOutputs:
    """Checkpoint and plot first, ``metrics.json`` last: its presence marks a finished run."""
    check_out_dir(out)
    checkpoint = trainer.save(out / CHECKPOINT_NAME)
    plot = plot_loss_curves(metrics, out / PLOT_NAME)
    metrics_path = atomic_write_json(out / METRICS_NAME, metrics)
    return RunOutputs(metrics, metrics_path, checkpoint, plot)
