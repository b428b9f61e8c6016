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
from moola.data.corpus import Corpus
from moola.errors import MoolaError
from moola.rundir.layout import CHECKPOINT_NAME
from moola.train.run import AUTO, run_training


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


def execute_run(task: RunTask, windows: OHLCWindows | Corpus | None = None) -> RunOutcome:
    """Train one run to completion; any failure is returned, not raised.

    ``windows``, when given, are the run's data, loaded by the driver (Ray passes them
    through its object store): the worker then never opens the ``data`` path. A checkpoint
    of this run left by a killed sweep is continued when the resume guard accepts it."""
    started = time.perf_counter()
    resumed_at: int | None = None
    try:
        if task.shared_filesystem:
            # held like a `moola train --out` (which it refuses while this run trains)
            outcome = run_training(
                task.config, windows=windows, resume=AUTO, lock_name=f"moola sweep run {task.name}"
            )
            resumed_at, files = outcome.resumed_at, None
        else:
            with tempfile.TemporaryDirectory(prefix="moola-run-") as tmp:
                staging = Path(tmp)
                if task.checkpoint is not None:
                    (staging / CHECKPOINT_NAME).write_bytes(task.checkpoint)
                outcome = run_training(
                    task.config, windows=windows, resume=AUTO, out_dir=staging, claim=False
                )
                resumed_at = outcome.resumed_at
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
