"""The sweep's progress display: runs done, running, failed and the time left (rich).

Without rich, or with ``--no-progress``, one line per finished run goes to stderr instead.

The time left is :func:`time_left`, from the mean time of the runs finished so far and the
number of parallel slots. rich's own estimate (recent completions per second) breaks on a
sweep: parallel runs finish in bursts, and a burst of four looked like a rate that left
1 s with 35 s to go.
"""

from __future__ import annotations

import math
import sys
import time
from types import TracebackType
from typing import Any

from moola.sweep.task import RunOutcome


class SweepProgress:
    """Context manager; pass :meth:`start` and :meth:`outcome` to :func:`run_sweep`."""

    def __init__(self, *, enabled: bool = True) -> None:
        self._enabled = enabled
        self._progress: Any = None
        self._bar: Any = None
        self.total = self.done = self.failed = self.slots = 0
        self.run_seconds: list[float] = []  # runs finished in this sweep
        self.last_outcome = time.monotonic()

    def __enter__(self) -> SweepProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start(self, total: int, already_done: int, slots: int) -> None:
        self.total, self.done, self.slots = total, already_done, slots
        if already_done:
            self._print(f"{already_done} of {total} runs already finished; skipping them")
        if self._enabled:
            try:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                )
            except ImportError:
                self._enabled = False
        if not self._enabled:
            return
        self._progress = Progress(
            TextColumn("[bold]sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("running {task.fields[running]}, [red]failed {task.fields[failed]}"),
            TimeElapsedColumn(),
            TextColumn("left"),
            _time_left_column(self),
            console=_stderr_console(),
        )
        self._progress.start()
        self._bar = self._progress.add_task(
            "sweep", total=total, completed=already_done, running=self._running(), failed=0
        )

    def seconds_left(self) -> float | None:
        mean = sum(self.run_seconds) / len(self.run_seconds) if self.run_seconds else None
        since = time.monotonic() - self.last_outcome
        return time_left(self.total, self.done, self.slots, mean, since)

    def outcome(self, outcome: RunOutcome) -> None:
        self.done += 1
        self.last_outcome = time.monotonic()
        if outcome.ok and outcome.seconds:
            self.run_seconds.append(float(outcome.seconds))
        if outcome.ok:
            resumed = f", resumed at step {outcome.resumed_at}" if outcome.resumed_at else ""
            line = f"done   {outcome.name} ({outcome.seconds:.1f} s{resumed})"
        else:
            self.failed += 1
            error = outcome.error or {}
            line = f"FAILED {outcome.name}: {error.get('type')}: {error.get('message')}"
        self._print(line)
        if self._progress is not None:
            self._progress.update(self._bar, advance=1, running=self._running(), failed=self.failed)

    def _running(self) -> int:
        return min(self.slots, self.total - self.done)

    def _print(self, line: str) -> None:
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=sys.stderr, flush=True)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def time_left(
    total: int, done: int, slots: int, mean_seconds: float | None, since_last: float
) -> float | None:
    """Seconds left: the running runs finish about one mean run time after they started (at
    the latest finish, ``since_last`` ago), then the queued ones run ``slots`` at a time.
    None until a run has finished (no mean yet)."""
    remaining = total - done
    if remaining <= 0:
        return 0.0
    if mean_seconds is None or slots < 1:
        return None
    running = min(slots, remaining)
    queued = remaining - running
    return max(0.0, mean_seconds - since_last) + math.ceil(queued / slots) * mean_seconds


def _time_left_column(progress: SweepProgress) -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class TimeLeft(ProgressColumn):
        def render(self, task: Any) -> Text:
            seconds = progress.seconds_left()
            if seconds is None:
                return Text("-:--:--", style="progress.remaining")
            whole = round(seconds)
            text = f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
            return Text(text, style="progress.remaining")

    return TimeLeft()
