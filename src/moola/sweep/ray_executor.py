"""Sweep runs as Ray tasks (``pip install 'moola[ray]'``), on a local instance or a cluster.

Workers need not share the driver's filesystem: each task trains in a staging folder on its
node and returns the run's files, which the driver writes under ``--out``. The moola package
itself is shipped to the workers with the job (``runtime_env.py_modules``), so only torch,
numpy (and matplotlib for the plots) must be installed on the nodes.

The data need not be on the nodes either: the driver loads each data source the runs use
once, as the series store a run reads (:mod:`moola.data.corpus`: each bar's inputs once,
the windows' labels and timeline), and puts it into Ray's object store (``ray.put``); a task
receives it from there and never opens the driver's paths. A memory-mapped store travels as
its arrays. Only ``synthetic`` is generated on the worker (from its seed, the same
everywhere). While a task trains, the driver holds the lock of its
run folder (as ``moola train --out`` does), so no other moola run can write into it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from moola.data import OHLCWindows
from moola.data.corpus import Corpus
from moola.errors import ConfigError, MoolaError
from moola.rundir.claim import claim_out_dir
from moola.sweep.task import RunOutcome, RunTask, execute_run
from moola.train.config import TrainConfig
from moola.train.objectives import load_data

#: The one data source a worker makes itself (seeded, no file).
GENERATED = "synthetic"


def data_key(config: dict[str, Any]) -> str | None:
    """What identifies a run's corpus (source, window length, stride, feature set, inputs);
    None: made on the worker."""
    data = config.get("data", GENERATED)
    if data == GENERATED:
        return None
    fields = ("window", "stride", "features", "inputs")
    return json.dumps([data, *(config.get(name) for name in fields)], sort_keys=True)


def load_windows_for(config: dict[str, Any]) -> Corpus:
    """The run's corpus, loaded on the driver the way the run itself would load it."""
    return load_data(TrainConfig.from_dict(config))


def _execute_remote(task: RunTask, windows: OHLCWindows | Corpus | None) -> RunOutcome:
    """The Ray task: ``windows`` (the run's corpus) arrives from the object store (Ray
    resolves the reference)."""
    return execute_run(task, windows=windows)


def _failed(task: RunTask, exc: BaseException, *, expected: bool) -> RunOutcome:
    error = {"type": type(exc).__name__, "message": str(exc), "expected": expected}
    return RunOutcome(task.name, False, 0.0, error={**error, "traceback": ""})


class RayExecutor:
    shares_filesystem = False

    def __init__(
        self,
        *,
        address: str | None = None,
        workers: int | None = None,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'moola[ray]'") from None
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {workers}")
        self._ray = ray
        self._address = address
        self._workers = workers
        self._init_options = init_options or {}
        self._owns_ray = False
        self.slots = workers or 1

    def __enter__(self) -> RayExecutor:
        ray = self._ray
        if not ray.is_initialized():
            import moola

            options: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "runtime_env": {"py_modules": [moola]},
                **self._init_options,
            }
            # No --address: always a new local instance with --workers CPUs ("local"), never a
            # cluster that happens to run on this machine (ray.init() would join one).
            if self._address is None and self._workers is not None:
                options.setdefault("num_cpus", self._workers)
            try:
                ray.init(address=self._address or "local", **options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ConfigError(
                    f"could not start or reach Ray at {self._address or 'a new local instance'}: {exc}"
                ) from None
            self._owns_ray = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.slots = max(1, min(self._workers or cpus, cpus))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._owns_ray:
            self._ray.shutdown()
            self._owns_ray = False

    def run(self, tasks: Sequence[RunTask]) -> Iterator[RunOutcome]:
        """At most ``slots`` tasks in flight, so the progress display's 'running' is true."""
        ray = self._ray
        remote = ray.remote(num_cpus=1, max_retries=1)(_execute_remote)
        data: dict[str, Any] = {}  # data key -> object ref of its windows, put once
        queue = list(tasks)
        in_flight: dict[Any, tuple[RunTask, AbstractContextManager[Any]]] = {}
        try:
            while queue or in_flight:
                while queue and len(in_flight) < self.slots:
                    task = queue.pop(0)
                    lock: AbstractContextManager[Any] = claim_out_dir(
                        Path(task.config["out_dir"]), f"moola sweep run {task.name} (Ray task)"
                    )
                    try:
                        lock.__enter__()
                    except MoolaError as exc:  # another moola run holds the folder
                        yield _failed(task, exc, expected=True)
                        continue
                    try:
                        key = data_key(task.config)
                        if key is not None and key not in data:
                            data[key] = ray.put(load_windows_for(task.config))
                    except MoolaError as exc:  # bad data: every run on it fails the same way
                        lock.__exit__(None, None, None)
                        yield _failed(task, exc, expected=True)
                        continue
                    ref = remote.remote(task, None if key is None else data[key])
                    in_flight[ref] = (task, lock)
                if not in_flight:
                    continue
                done, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in done:
                    task, lock = in_flight.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # the worker or node was lost
                        message = f"Ray could not run the task ({type(exc).__name__}): {exc}"
                        error = {"type": type(exc).__name__, "message": message}
                        outcome = RunOutcome(
                            task.name,
                            False,
                            0.0,
                            error={**error, "expected": False, "traceback": ""},
                        )
                    try:
                        yield outcome  # the driver writes the run's files under the lock
                    finally:
                        lock.__exit__(None, None, None)
        finally:
            for _, lock in in_flight.values():
                lock.__exit__(None, None, None)
