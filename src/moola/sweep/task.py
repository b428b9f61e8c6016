"""One sweep run as a self-contained task: what every executor ships to a worker and gets back.

The task is plain data (picklable), and :func:`execute_run` never raises: a diverged run, a
bad input or a bug comes back as a failed :class:`RunOutcome` with its error, so one bad run
cannot stop the others.

Where the worker shares the driver's filesystem (process pool, in-process), the run writes
straight into its folder, and a checkpoint left there by a killed sweep is resumed. Elsewhere
(a Ray cluster) it trains in a private staging folder and returns the files' bytes; the driver
writes them atomically, ``metrics.json`` last.
"""

from __future__ import annotations

import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moola.data import OHLCWindows
from moola.errors import MoolaError
from moola.train.checkpoint import CHECKPOINT_NAME, load_checkpoint
from moola.train.config import TrainConfig
from moola.train.guard import frozen_differences
from moola.train.loop import Trainer
from moola.train.outdir import claim_out_dir
from moola.train.run import folds_and_write, train_and_write


@dataclass
class RunTask:
    name: str
    config: dict[str, Any]  # TrainConfig fields; out_dir is the run's folder on the driver
    shared_filesystem: bool
    checkpoint: bytes | None = None  # remote workers: the driver's partial checkpoint, if any


@dataclass
class RunOutcome:
    name: str
    ok: bool
    seconds: float
    error: dict[str, Any] | None = None  # {"type", "message", "traceback"} when not ok
    files: dict[str, bytes] | None = None  # remote workers: the run folder's files
    resumed_at: int | None = None  # the checkpoint step the run continued from


def execute_run(task: RunTask, windows: OHLCWindows | None = None) -> RunOutcome:
    """Train one run to completion; any failure is returned, not raised.

    ``windows``, when given, are the run's data, loaded by the driver (Ray passes them
    through its object store): the worker then never opens the ``data`` path."""
    started = time.perf_counter()
    resumed_at: int | None = None
    try:
        if task.shared_filesystem:
            out = Path(task.config["out_dir"])
            # held like a `moola train --out` (which it refuses while this run trains)
            with claim_out_dir(out, f"moola sweep run {task.name}"):
                if task.config.get("folds"):  # a fold axis: K folds, no checkpoint to resume
                    folds_and_write(TrainConfig.from_dict(task.config), out, windows=windows)
                else:
                    trainer = _build(task.config, out / CHECKPOINT_NAME, windows)
                    resumed_at = trainer.step or None
                    train_and_write(trainer, out)
            files = None
        else:
            with tempfile.TemporaryDirectory(prefix="moola-run-") as tmp:
                staging = Path(tmp)
                if task.checkpoint is not None:
                    (staging / CHECKPOINT_NAME).write_bytes(task.checkpoint)
                if task.config.get("folds"):
                    folds_and_write(TrainConfig.from_dict(task.config), staging, windows=windows)
                else:
                    trainer = _build(task.config, staging / CHECKPOINT_NAME, windows)
                    resumed_at = trainer.step or None
                    train_and_write(trainer, staging)
                files = {p.name: p.read_bytes() for p in staging.iterdir() if p.is_file()}
    except Exception as exc:  # every failure is data for the sweep, never a crash of it
        error = {
            "type": type(exc).__name__,
            "message": str(exc),
            "expected": isinstance(exc, MoolaError),
            "traceback": traceback.format_exc(),
        }
        return RunOutcome(task.name, False, time.perf_counter() - started, error=error)
    return RunOutcome(
        task.name, True, time.perf_counter() - started, files=files, resumed_at=resumed_at
    )


def _build(config: dict[str, Any], checkpoint: Path, windows: OHLCWindows | None = None) -> Trainer:
    """A fresh trainer, or one resumed from ``checkpoint`` when a killed sweep left one of
    this run: the resume guard's own rules decide (a shorter run may be extended, which is
    bit-identical); anything else starts afresh."""
    requested = TrainConfig.from_dict(config)
    if checkpoint.is_file() and _resumable(load_checkpoint(checkpoint), requested):
        return Trainer.resume(checkpoint, windows=windows, **config)
    return Trainer(requested, windows=windows)


def _resumable(state: dict[str, Any], requested: TrainConfig) -> bool:
    """Whether ``moola train --resume`` would accept this checkpoint for ``requested``."""
    same = not frozen_differences(state["config"], requested.to_dict())
    return same and int(state["step"]) <= requested.steps
