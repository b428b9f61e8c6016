"""Where sweep runs execute. One small interface, three implementations:

* :class:`InlineExecutor`: in this process, one after another (debugging, tests);
* :class:`PoolExecutor`: a local process pool (spawned workers, one torch thread each);
* :class:`~moola.sweep.ray_executor.RayExecutor`: Ray tasks on a local or remote cluster.

Every executor runs the same :func:`~moola.sweep.task.execute_run`, so a run's numbers do
not depend on where it ran.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Protocol

from moola.errors import ConfigError
from moola.sweep.task import RunOutcome, RunTask, execute_run

EXECUTORS = ("pool", "ray", "inline")


class Executor(Protocol):
    """Runs tasks and yields their outcomes as they finish (in any order)."""

    #: Whether workers write the driver's run folders themselves (else they return the files).
    shares_filesystem: bool
    #: How many runs execute at once (for the progress display).
    slots: int

    def __enter__(self) -> Executor: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def run(self, tasks: Sequence[RunTask]) -> Iterator[RunOutcome]: ...


class InlineExecutor:
    shares_filesystem = True
    slots = 1

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, tasks: Sequence[RunTask]) -> Iterator[RunOutcome]:
        for task in tasks:
            yield execute_run(task)


def _init_worker() -> None:
    """One torch thread per worker: the runs are the parallelism (runs also set threads=1)."""
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)


class PoolExecutor:
    """A local process pool. Spawned (not forked) workers: no torch state inherited mid-use."""

    shares_filesystem = True

    def __init__(self, workers: int | None = None) -> None:
        workers = workers if workers is not None else (os.cpu_count() or 1)
        if workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {workers}")
        self.slots = workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> PoolExecutor:
        self._pool = ProcessPoolExecutor(
            max_workers=self.slots,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, tasks: Sequence[RunTask]) -> Iterator[RunOutcome]:
        assert self._pool is not None, "use the executor as a context manager"
        futures: dict[Future[RunOutcome], RunTask] = {
            self._pool.submit(execute_run, task): task for task in tasks
        }
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield _outcome(future, futures[future])


def _outcome(future: Future[RunOutcome], task: RunTask) -> RunOutcome:
    try:
        return future.result()
    except BrokenProcessPool as exc:  # a worker was killed (out of memory, a signal)
        message = f"the worker process died ({exc}); rerun the sweep to retry this run"
        error = {"type": "WorkerDied", "message": message, "expected": False, "traceback": ""}
        return RunOutcome(task.name, False, 0.0, error=error)


def make_executor(name: str, *, workers: int | None, address: str | None) -> Executor:
    if address is not None and name != "ray":
        raise ConfigError("--address is for --executor ray")
    if name == "pool":
        return PoolExecutor(workers)
    if name == "inline":
        if workers is not None:
            raise ConfigError("--workers is for --executor pool or ray; inline runs one at a time")
        return InlineExecutor()
    if name == "ray":
        from moola.sweep.ray_executor import RayExecutor

        return RayExecutor(address=address, workers=workers)
    raise ConfigError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
