"""Per-task gradient telemetry during training: is a task being starved while the run goes on?

Every ``telemetry_every`` steps, before the train step, each task's gradient on the shared
trunk is measured on that step's batch with :func:`moola.probe.probe_gradients` (exact, one
``torch.autograd.grad`` per task). After the step, the weights the balancer applied turn the
raw norms into the weighted norms and shares the trunk really got.

It must not change the trajectory: the measurement's forward pass draws the same dropout
masks as the step (the torch RNG state is saved before and restored after, so the step then
draws them again), the model stays in its mode, no ``.grad`` is written and parameters and
optimizer are not touched. Values stay on the device until the log interval's host read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from moola.models.multitask import MultiTaskModel
from moola.probe import probe_gradients, shares_of
from moola.tasks import TaskSet

#: What each telemetry record holds per task.
FIELDS = ("trunk_grad_norm", "share", "worst_cosine", "weight")


@contextlib.contextmanager
def same_randomness(device: torch.device) -> Iterator[None]:
    """Run the body, then put torch's RNG (CPU, and the CUDA device's) back where it was."""
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state(cuda, device)


class Telemetry:
    """Measures the trunk gradients on chosen steps and keeps them until the host read."""

    def __init__(self, model: MultiTaskModel, tasks: TaskSet, every: int) -> None:
        self.model = model
        self.tasks = tasks
        self.every = every
        self.pending: list[tuple[int, torch.Tensor]] = []  # (step, (4, T) device tensor)
        self._measured: tuple[int, torch.Tensor, torch.Tensor] | None = None

    def due(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def measure(self, step: int, x: torch.Tensor, targets: Mapping[str, torch.Tensor]) -> None:
        """Before the train step of ``step``: the raw per-task trunk gradients on its batch."""
        ones = torch.ones(len(self.tasks), device=x.device)
        with same_randomness(x.device):
            report = probe_gradients(self.model, x, targets, self.tasks, ones)
        self._measured = (step, report.raw_trunk_grad_norm.detach(), report.worst_cosine.detach())

    def record(self, weights: torch.Tensor) -> None:
        """After the step: weight the measurement by the weights the balancer applied."""
        if self._measured is None:
            return
        step, raw, worst = self._measured
        self._measured = None
        w = weights.detach().to(raw.dtype)
        norm = w.abs() * raw
        self.pending.append((step, torch.stack([norm, shares_of(norm), worst, w])))

    def read(self) -> list[dict[str, Any]]:
        """The pending records as plain floats (one host read for all of them)."""
        if not self.pending:
            return []
        values = torch.stack([t for _, t in self.pending]).tolist()
        records = [
            {
                "step": step,
                **{
                    name: {field: rows[k][i] for k, field in enumerate(FIELDS)}
                    for i, name in enumerate(self.tasks.names)
                },
            }
            for (step, _), rows in zip(self.pending, values)
        ]
        self.pending.clear()
        return records
