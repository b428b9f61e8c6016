"""Sweep runs as Ray tasks (``pip install 'moola[ray]'``), on a local instance or a cluster.

Workers need not share the driver's filesystem: each task trains in a staging folder on its
node and returns the run's files, which the driver writes under ``--out``. The moola package
itself is shipped to the workers with the job (``runtime_env.py_modules``), so only torch,
numpy (and matplotlib for the plots) must be installed on the nodes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from moola.errors import ConfigError
from moola.sweep.task import RunOutcome, RunTask, execute_run


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
            if self._address is None and self._workers is not None:
                options.setdefault("num_cpus", self._workers)
            try:
                ray.init(address=self._address, **options)
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
        remote = ray.remote(num_cpus=1, max_retries=1)(execute_run)
        queue = list(tasks)
        in_flight: dict[Any, RunTask] = {}
        while queue or in_flight:
            while queue and len(in_flight) < self.slots:
                task = queue.pop(0)
                in_flight[remote.remote(task)] = task
            done, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in done:
                task = in_flight.pop(ref)
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker or node was lost
                    message = f"Ray could not run the task ({type(exc).__name__}): {exc}"
                    error = {"type": type(exc).__name__, "message": message, "expected": False}
                    yield RunOutcome(task.name, False, 0.0, error={**error, "traceback": ""})
