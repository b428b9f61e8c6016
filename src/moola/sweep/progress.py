"""The sweep's progress display: runs done, running, failed and the time left (rich).

Without rich, or with ``--no-progress``, one line per finished run goes to stderr instead.
"""

from __future__ import annotations

import sys
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
                    TimeRemainingColumn,
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
            TimeRemainingColumn(),
            console=_stderr_console(),
        )
        self._progress.start()
        self._bar = self._progress.add_task(
            "sweep", total=total, completed=already_done, running=self._running(), failed=0
        )

    def outcome(self, outcome: RunOutcome) -> None:
        self.done += 1
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
