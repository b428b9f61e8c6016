"""A finished run's files and the order they are written in: ``metrics.json`` last, so that
its presence means the run finished (its layout: :mod:`moola.train.loop.result`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moola.atomic import atomic_write_json
from moola.report import plot_loss_curves
from moola.rundir.claim import check_out_dir
from moola.rundir.layout import FOLDS_NAME, METRICS_NAME, PLOT_NAME


@dataclass
class Written:
    """The files a run wrote (None: not written)."""

    metrics: Path | None = None
    checkpoint: Path | None = None
    plot: Path | None = None  # None also when matplotlib is not installed
    folds: Path | None = None


def write_split_outputs(out: Path, metrics: Mapping[str, Any], save_checkpoint: Any) -> Written:
    """Checkpoint (``save_checkpoint(folder)``, the trainer's save) and plot first,
    ``metrics.json`` last."""
    check_out_dir(out)
    checkpoint = save_checkpoint(out)
    plot = plot_loss_curves(dict(metrics), out / PLOT_NAME)
    return Written(atomic_write_json(out / METRICS_NAME, dict(metrics)), checkpoint, plot)


def write_folds_outputs(out: Path, folds: Mapping[str, Any], metrics: Mapping[str, Any]) -> Written:
    """``folds.json`` first, ``metrics.json`` last."""
    check_out_dir(out)
    folds_path = atomic_write_json(out / FOLDS_NAME, dict(folds))
    return Written(atomic_write_json(out / METRICS_NAME, dict(metrics)), folds=folds_path)
