"""Tasks: a head's loss, scaling and units; JadeCompact's four, with how their targets are built.

A :class:`Task` is one head's learning problem as the loop, the balancers and the verdict
see it: a name, a priority, the output key it reads, a loss and its natural units. Any
objective (:mod:`moola.train.objectives`) can define its own; JadeCompact's four below also build
their targets from a window's labels.

Each task has *natural units* (class logits, fractions of the window, bars) in which
losses are reported, and *training units* (natural units times ``target_scale``) in which
the head is trained. The countdown trains on ±20 bars mapped to ±1 by default; the raw
variant (``target_scale=1``) reproduces the legacy failure, where a linear head on
tanh-bounded features has to reach ±20 within a short training budget.

A Huber δ is always given in natural units and converted, so that the reported loss is
the same function of the prediction whatever the scaling: ``huber_{sδ}(s·p, s·y) =
s² · huber_δ(p, y)``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from moola.data.windows import validate_labels
from moola.errors import ConfigError
from moola.models.jade_core import OUTPUT_KEYS

TASK_NAMES: tuple[str, ...] = ("type", "pointers", "binary", "countdown")

#: The original fixed weights (type 0.10, pointers 0.70, binary 0.10, countdown 0.10).
DEFAULT_PRIORITIES: dict[str, float] = {
    "type": 0.10,
    "pointers": 0.70,
    "binary": 0.10,
    "countdown": 0.10,
}

COUNTDOWN_CLIP = 20.0


@dataclass(frozen=True)
class Task(ABC):
    """One head's learning problem. Subclasses fix the loss (and, for JadeCompact's heads,
    how the target is built from a window's labels)."""

    name: str
    priority: float

    @property
    def output_key(self) -> str:
        """The key of the model's output this task reads: JadeCompact's own names for its
        four heads, the task's name for any other task."""
        return OUTPUT_KEYS.get(self.name, self.name)

    def build_target(
        self, label: torch.Tensor, start: torch.Tensor, end: torch.Tensor, window: int
    ) -> torch.Tensor:
        """Target in training units from a window's labels, vectorised over windows."""
        raise ConfigError(
            f"task {self.name!r} has no target rule for labelled windows; its objective "
            "builds its targets"
        )

    @abstractmethod
    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean-reduced loss in training units (what the balancer and optimizer see)."""

    def to_natural(self, loss: torch.Tensor | float) -> torch.Tensor | float:
        """Convert a training-units loss into the natural units losses are reported in."""
        return loss

    @property
    def units(self) -> str:
        """The natural units the loss is reported in (``metrics.json``'s ``units``)."""
        return "nats"


@dataclass(frozen=True)
class TypeTask(Task):
    """Window class (consolidation / retracement / continuation): cross-entropy."""

    n_classes: int = 3

    def build_target(self, label, start, end, window):  # type: ignore[no-untyped-def]
        return label.long()

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(prediction, target)

    def constant_loss(self, train_target: torch.Tensor, eval_target: torch.Tensor) -> float:
        """The one-number constant's loss (the log class prior): no longer the verdict's
        prior, kept for comparison."""
        counts = torch.bincount(train_target.long(), minlength=self.n_classes).double()
        prior = (counts + 1e-12) / counts.sum()
        return float(-prior.log()[eval_target.long()].mean())


@dataclass(frozen=True)
class RegressionTask(Task):
    """Huber regression with δ in natural units and a configurable target scale."""

    delta: float = 1.0
    target_scale: float = 1.0

    def __post_init__(self) -> None:
        if not (self.target_scale > 0 and math.isfinite(self.target_scale)):
            raise ConfigError(
                f"{self.name}: target_scale must be finite and > 0, got {self.target_scale}"
            )
        if not self.delta > 0:
            raise ConfigError(f"{self.name}: Huber delta must be > 0, got {self.delta}")

    @abstractmethod
    def natural_target(
        self, label: torch.Tensor, start: torch.Tensor, end: torch.Tensor, window: int
    ) -> torch.Tensor: ...

    def build_target(self, label, start, end, window):  # type: ignore[no-untyped-def]
        return self.natural_target(label, start, end, window) * self.target_scale

    def training_prediction(self, prediction: torch.Tensor) -> torch.Tensor:
        """Map the head's output into training units (identity for linear heads)."""
        return prediction

    def natural_prediction(self, prediction: torch.Tensor) -> torch.Tensor:
        """The head's output in natural units (e.g. bars)."""
        return self.training_prediction(prediction) / self.target_scale

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.huber_loss(
            self.training_prediction(prediction), target, delta=self.delta * self.target_scale
        )

    def to_natural(self, loss: torch.Tensor | float) -> torch.Tensor | float:
        return loss / self.target_scale**2

    def constant_loss(self, train_target: torch.Tensor, eval_target: torch.Tensor) -> float:
        """The one-number constant's loss (one Huber minimiser for every bar; one per column
        for pointers): no longer the verdict's prior, kept for comparison."""
        train = train_target.double().cpu().numpy() / self.target_scale
        evaluate = eval_target.double().cpu().numpy() / self.target_scale
        # One constant per output column for vector targets (pointers), one overall otherwise.
        if train.ndim == 2 and self.name == "pointers":
            consts = [best_constant_huber(train[:, j], self.delta) for j in range(train.shape[1])]
            const = np.asarray(consts)[None, :]
        else:
            const = np.asarray(best_constant_huber(train.ravel(), self.delta))
        return float(_huber_np(const - evaluate, self.delta).mean())


@dataclass(frozen=True)
class PointerTask(RegressionTask):
    """Expansion center and length as fractions of the window (the head ends in a sigmoid)."""

    delta: float = 0.08

    @property
    def units(self) -> str:
        return f"window fraction (Huber δ={self.delta:g})"

    def natural_target(self, label, start, end, window):  # type: ignore[no-untyped-def]
        start, end = start.double(), end.double()
        center = (start + end) / 2.0 / window
        length = (end - start) / window
        return torch.stack([center, length], dim=-1).float()

    def training_prediction(self, prediction: torch.Tensor) -> torch.Tensor:
        # The sigmoid output stays in natural units; scaling happens in the loss.
        return prediction * self.target_scale


@dataclass(frozen=True)
class BinarySpanTask(Task):
    """Per-bar "inside the expansion" (start..end inclusive): BCE with logits."""

    def build_target(self, label, start, end, window):  # type: ignore[no-untyped-def]
        t = torch.arange(window, device=start.device)
        inside = (t[None, :] >= start[:, None]) & (t[None, :] <= end[:, None])
        return inside.float()

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(prediction, target)

    def constant_loss(self, train_target: torch.Tensor, eval_target: torch.Tensor) -> float:
        """The one-number constant's loss (the overall in-span rate): no longer the verdict's
        prior, kept for comparison."""
        rate = float(train_target.double().mean())
        rate = min(max(rate, 1e-7), 1 - 1e-7)
        y = eval_target.double()
        return float(-(y * math.log(rate) + (1 - y) * math.log(1 - rate)).mean())


@dataclass(frozen=True)
class CountdownTask(RegressionTask):
    """Per-bar bars-until-expansion, −(t − start) clipped to ±20; Huber δ = 1 bar."""

    delta: float = 1.0
    target_scale: float = 1.0 / COUNTDOWN_CLIP

    @property
    def units(self) -> str:
        return f"bars (Huber δ={self.delta:g})"

    def natural_target(self, label, start, end, window):  # type: ignore[no-untyped-def]
        t = torch.arange(window, device=start.device, dtype=torch.float32)
        return (start.float()[:, None] - t[None, :]).clamp(-COUNTDOWN_CLIP, COUNTDOWN_CLIP)


def best_constant_huber(values: np.ndarray, delta: float) -> float:
    """The constant c minimising mean Huber_δ(c − values); bisection on the monotone derivative."""
    values = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = float(values.min()), float(values.max())
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if np.clip(mid - values, -delta, delta).mean() > 0:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


def _huber_np(residual: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(residual)
    return np.where(a < delta, 0.5 * a * a, delta * (a - 0.5 * delta))


@dataclass(frozen=True)
class TaskSet:
    """The tasks in a fixed order; losses travel as one stacked tensor in that order."""

    tasks: tuple[Task, ...]
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = tuple(t.name for t in self.tasks)
        if not names:
            raise ConfigError("a task set needs at least one task")
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate task names: {names}")
        for t in self.tasks:
            if not (t.priority > 0 and math.isfinite(t.priority)):
                raise ConfigError(
                    f"task {t.name!r}: priority must be finite and > 0, got {t.priority}"
                )
        object.__setattr__(self, "names", names)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, name: str) -> Task:
        for t in self.tasks:
            if t.name == name:
                return t
        raise ConfigError(f"no task {name!r}; tasks are {list(self.names)}")

    def priorities(self, device: torch.device | str | None = None) -> torch.Tensor:
        return torch.tensor([t.priority for t in self.tasks], dtype=torch.float32, device=device)

    def build_targets(
        self,
        label: torch.Tensor,
        start: torch.Tensor,
        end: torch.Tensor,
        window: int,
        n_classes: int = 3,
    ) -> dict[str, torch.Tensor]:
        """Targets for every task, after rejecting bad labels with a message naming the row."""
        validate_labels(label, start, end, window=window, n_classes=n_classes)
        return {t.name: t.build_target(label, start, end, window) for t in self.tasks}

    def losses(
        self, outputs: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        """Stacked training-units losses, shape (n_tasks,)."""
        missing = [t.output_key for t in self.tasks if t.output_key not in outputs]
        if missing:
            raise ConfigError(
                f"the model gives no output {missing} for task(s) "
                f"{[t.name for t in self.tasks if t.output_key in missing]}; it gives {sorted(outputs)}"
            )
        return torch.stack([t.loss(outputs[t.output_key], targets[t.name]) for t in self.tasks])

    def to_natural(self, losses: torch.Tensor) -> torch.Tensor:
        """Stacked training-units losses -> natural units (countdown in bars)."""
        factors = [float(t.to_natural(1.0)) for t in self.tasks]
        return losses * torch.tensor(factors, dtype=losses.dtype, device=losses.device)

    def units(self) -> dict[str, str]:
        """Per task, the natural units its loss is reported in."""
        return {t.name: t.units for t in self.tasks}

    def constant_losses(
        self, train_targets: Mapping[str, torch.Tensor], eval_targets: Mapping[str, torch.Tensor]
    ) -> dict[str, float]:
        """Each head's one-number constant loss (for comparison with its prior)."""
        return {
            t.name: t.constant_loss(train_targets[t.name], eval_targets[t.name])  # type: ignore[attr-defined]
            for t in self.tasks
        }


def make_tasks(
    *,
    countdown_units: str = "normalized",
    priorities: Mapping[str, float] | Sequence[float] | None = None,
    countdown_scale: float | None = None,
    pointer_scale: float = 1.0,
    n_classes: int = 3,
) -> TaskSet:
    """The standard task set.

    ``countdown_units``: ``"normalized"`` (±20 bars -> ±1, the default) or ``"bars"`` (raw,
    reproduces the legacy failure). ``countdown_scale`` overrides the scale directly.
    """
    if countdown_units not in ("normalized", "bars"):
        raise ConfigError(
            f"countdown_units must be 'normalized' or 'bars', got {countdown_units!r}"
        )
    prio = resolve_priorities(priorities)
    if countdown_scale is None:
        countdown_scale = 1.0 / COUNTDOWN_CLIP if countdown_units == "normalized" else 1.0
    return TaskSet(
        (
            TypeTask("type", prio["type"], n_classes=n_classes),
            PointerTask("pointers", prio["pointers"], target_scale=pointer_scale),
            BinarySpanTask("binary", prio["binary"]),
            CountdownTask("countdown", prio["countdown"], target_scale=countdown_scale),
        )
    )


def resolve_priorities(
    priorities: Mapping[str, float] | Sequence[float] | None,
) -> dict[str, float]:
    """Priorities by task name, from a mapping, a 4-sequence in task order, or the default."""
    if priorities is None:
        return dict(DEFAULT_PRIORITIES)
    if isinstance(priorities, Mapping):
        unknown = set(priorities) - set(TASK_NAMES)
        if unknown:
            raise ConfigError(
                f"priorities for unknown task(s) {sorted(unknown)}; tasks are {TASK_NAMES}"
            )
        return {**DEFAULT_PRIORITIES, **{k: float(v) for k, v in priorities.items()}}
    values = [float(v) for v in priorities]
    if len(values) != len(TASK_NAMES):
        raise ConfigError(
            f"expected {len(TASK_NAMES)} priorities in order {TASK_NAMES}, got {values}"
        )
    return dict(zip(TASK_NAMES, values))
