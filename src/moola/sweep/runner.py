"""Drive a sweep: write the manifest, skip finished runs, run the rest, record every outcome.

A run is finished when its folder holds a readable ``metrics.json`` (written atomically, last)
whose config is the grid point's. A killed sweep therefore resumes by running it again: the
finished runs are left untouched, an unfinished one restarts (or continues from its
checkpoint), and a failed one (``error.json``) is retried, unless it has failed
``MAX_FAILURES`` times already: such a run is held back (a diverging config would fail
again on every rerun) until the sweep is run with ``retry_failed`` (``--retry-failed``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from moola.atomic import atomic_write, atomic_write_json
from moola.errors import ConfigError
from moola.rundir.layout import CHECKPOINT_NAME, METRICS_NAME
from moola.sweep.executors import Executor
from moola.sweep.grid import Grid, RunSpec
from moola.sweep.task import RunOutcome, RunTask

MANIFEST_NAME = "sweep.json"
ERROR_NAME = "error.json"
#: Failures after which a run is not retried without ``retry_failed``.
MAX_FAILURES = 2
#: Config keys that may differ between a finished run and its grid point (not results).
VOLATILE_KEYS = frozenset({"out_dir", "progress"})

#: Called with each outcome as it arrives (the progress display).
OutcomeCallback = Callable[[RunOutcome], None]


@dataclass
class SweepSummary:
    total: int
    skipped: list[str] = field(default_factory=list)  # finished before this invocation
    finished: list[str] = field(default_factory=list)
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Runs not retried: they failed MAX_FAILURES times (their error.json says why).
    held_back: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.held_back


def read_finished_metrics(run_dir: Path) -> dict[str, Any] | None:
    """The run's metrics.json, or None when the run has not finished (missing or unreadable)."""
    try:
        metrics = json.loads((run_dir / METRICS_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return metrics if isinstance(metrics, dict) and "tasks" in metrics else None


def is_finished(spec: RunSpec, run_dir: Path) -> bool:
    """Finished with this grid point's config; a different config in the folder is an error."""
    metrics = read_finished_metrics(run_dir)
    if metrics is None:
        return False
    recorded = metrics.get("config", {})
    differing = sorted(
        key
        for key in set(recorded) & set(spec.config)
        if key not in VOLATILE_KEYS and recorded[key] != _json_roundtrip(spec.config[key])
    )
    if differing:
        raise ConfigError(
            f"{run_dir} holds a finished run with a different config ({', '.join(differing)}); "
            "use another --out for a different sweep"
        )
    return True


def _json_roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value))


def failure_count(run_dir: Path) -> int:
    """How many times in a row the run has failed (its ``error.json``; 0 without one)."""
    try:
        error = json.loads((run_dir / ERROR_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    count = error.get("failures", 1) if isinstance(error, dict) else 1
    return count if isinstance(count, int) and count >= 1 else 1


def write_manifest(out: Path, grid: Grid, runs: list[RunSpec], executor: str) -> Path:
    return atomic_write_json(
        out / MANIFEST_NAME,
        {
            "grid": grid.to_dict(),
            "executor": executor,
            "runs": [run.to_dict() for run in runs],
        },
    )


def run_sweep(
    runs: list[RunSpec],
    out: Path,
    executor: Executor,
    *,
    on_start: Callable[[int, int, int], None] | None = None,
    on_outcome: OutcomeCallback | None = None,
    retry_failed: bool = False,
) -> SweepSummary:
    """Run every unfinished run of ``runs`` on ``executor`` (entered here) and record outcomes.

    A run that failed ``MAX_FAILURES`` times is held back unless ``retry_failed``.

    ``on_start(total, already_finished, slots)`` is called once before the first run.
    """
    summary = SweepSummary(total=len(runs))
    todo: list[RunSpec] = []
    for spec in runs:
        if is_finished(spec, out / spec.name):
            summary.skipped.append(spec.name)
        elif not retry_failed and failure_count(out / spec.name) >= MAX_FAILURES:
            summary.held_back.append(spec.name)
        else:
            todo.append(spec)
    by_name = {spec.name: spec for spec in todo}
    with executor:
        if on_start is not None:
            on_start(len(runs), len(summary.skipped), executor.slots)
        tasks = [_task(spec, out, executor.shares_filesystem) for spec in todo]
        for outcome in executor.run(tasks):
            record_outcome(out / by_name[outcome.name].name, outcome)
            if outcome.ok:
                summary.finished.append(outcome.name)
            else:
                summary.failed[outcome.name] = outcome.error or {}
            if on_outcome is not None:
                on_outcome(outcome)
    return summary


def _task(spec: RunSpec, out: Path, shared: bool) -> RunTask:
    run_dir = out / spec.name
    checkpoint = None
    if not shared and (run_dir / CHECKPOINT_NAME).is_file():
        checkpoint = (run_dir / CHECKPOINT_NAME).read_bytes()
    return RunTask(spec.name, spec.config, shared_filesystem=shared, checkpoint=checkpoint)


def record_outcome(run_dir: Path, outcome: RunOutcome) -> None:
    """Write a remote run's files (metrics.json last) or the failure's ``error.json``."""
    if not outcome.ok:
        failures = failure_count(run_dir) + 1
        atomic_write_json(
            run_dir / ERROR_NAME,
            {
                "run": outcome.name,
                "seconds": outcome.seconds,
                **(outcome.error or {}),
                "failures": failures,
            },
        )
        return
    if outcome.files is not None:
        for name in sorted(outcome.files, key=lambda name: name == METRICS_NAME):
            if name != Path(name).name or name.startswith("."):
                raise ConfigError(f"run {outcome.name} returned an unsafe file name {name!r}")
            atomic_write(run_dir / name, _writer(outcome.files[name]))
    (run_dir / ERROR_NAME).unlink(missing_ok=True)


def _writer(data: bytes) -> Callable[[IO[bytes]], None]:
    def write(handle: IO[bytes]) -> None:
        handle.write(data)

    return write
