"""What a run logs while it trains: the loss history, and the device-side meter behind it.

Per-task losses are summed on the device and read back only every ``log_every`` steps.
Non-finite values are tracked on the device too (the first bad step per task), so a
divergence is reported with the task and the step without a per-step host sync.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from moola.errors import TrainingDivergedError

REMEDY = (
    "lower the learning rate (--lr), keep gradient clipping on (--grad-clip), check the data "
    "for extreme values, or train the countdown on normalised targets (--countdown-units normalized)"
)


@dataclass
class History:
    """Training losses (natural units) per logged step, plus the balancer's mean weights."""

    task_names: tuple[str, ...]
    step: list[int] = field(default_factory=list)
    losses: dict[str, list[float]] = field(default_factory=dict)
    weights: dict[str, list[float]] = field(default_factory=dict)
    validation: list[dict[str, Any]] = field(default_factory=list)
    #: per-task trunk-gradient measurements (moola.train.loop.telemetry), one dict per measured step
    telemetry: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in self.task_names:
            self.losses.setdefault(name, [])
            self.weights.setdefault(name, [])

    def append(self, step: int, losses: list[float], weights: list[float]) -> None:
        self.step.append(step)
        for name, loss, weight in zip(self.task_names, losses, weights):
            self.losses[name].append(loss)
            self.weights[name].append(weight)

    def pop(self) -> None:
        self.step.pop()
        for name in self.task_names:
            self.losses[name].pop()
            self.weights[name].pop()

    def to_dict(self) -> dict[str, Any]:
        return {"step": list(self.step), **{k: list(v) for k, v in self.losses.items()}}

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": list(self.step),
            "losses": {k: list(v) for k, v in self.losses.items()},
            "weights": {k: list(v) for k, v in self.weights.items()},
            "validation": list(self.validation),
            "telemetry": list(self.telemetry),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = list(state["step"])
        self.losses = {k: list(v) for k, v in state["losses"].items()}
        self.weights = {k: list(v) for k, v in state["weights"].items()}
        self.validation = list(state["validation"])
        self.telemetry = list(state.get("telemetry", []))  # older checkpoints have none


class LossMeter:
    """Device-side sums of the natural-units losses and weights of the open log interval,
    and the first step at which each went non-finite (-1: never)."""

    def __init__(self, task_names: tuple[str, ...], device: torch.device) -> None:
        self.task_names = task_names
        n_tasks = len(task_names)
        self.loss_sum = torch.zeros(n_tasks, device=device)
        self.weight_sum = torch.zeros(n_tasks, device=device)
        self.steps_in_sum = 0
        self.first_bad_loss = torch.full((n_tasks,), -1, dtype=torch.long, device=device)
        self.first_bad_weight = torch.full((n_tasks,), -1, dtype=torch.long, device=device)
        self.first_bad_grad = torch.full((), -1, dtype=torch.long, device=device)

    def track(
        self, step: int, losses: torch.Tensor, weights: torch.Tensor, grad_norm: torch.Tensor
    ) -> None:
        """Accumulate one step (no host sync)."""
        self.loss_sum += losses
        self.weight_sum += weights
        self.steps_in_sum += 1
        self.first_bad_loss = _first_bad(self.first_bad_loss, losses, step)
        self.first_bad_weight = _first_bad(self.first_bad_weight, weights, step)
        self.first_bad_grad = _first_bad(self.first_bad_grad, grad_norm, step)

    def means(self) -> tuple[list[float], list[float]]:
        """The open interval's mean losses and weights (the one host sync per log interval),
        after raising on any non-finite value."""
        self.raise_if_diverged()
        losses = (self.loss_sum / self.steps_in_sum).tolist()
        weights = (self.weight_sum / self.steps_in_sum).tolist()
        return losses, weights

    def reset(self) -> None:
        self.loss_sum.zero_()
        self.weight_sum.zero_()
        self.steps_in_sum = 0

    def raise_if_diverged(self) -> None:
        """Name the earliest non-finite value: a task's loss, then a balancer weight, then the gradient."""
        for what, first_bad in (
            ("loss", self.first_bad_loss),
            ("balancer weight", self.first_bad_weight),
        ):
            steps = first_bad.tolist()
            bad = [s for s in steps if s >= 0]
            if bad:
                step = min(bad)
                names = ", ".join(repr(n) for n, s in zip(self.task_names, steps) if s == step)
                raise TrainingDivergedError(
                    f"non-finite {what} for task {names} at step {step + 1}; training stopped "
                    f"and no checkpoint was written for it. Remedy: {REMEDY}"
                )
        bad_grad = int(self.first_bad_grad)
        if bad_grad >= 0:
            raise TrainingDivergedError(
                f"non-finite gradient at step {bad_grad + 1} (all task losses finite); "
                f"training stopped and no checkpoint was written for it. Remedy: {REMEDY}"
            )

    def state_dict(self) -> dict[str, Any]:
        return {
            "loss_sum": self.loss_sum.cpu(),
            "weight_sum": self.weight_sum.cpu(),
            "steps_in_sum": self.steps_in_sum,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.loss_sum.copy_(state["loss_sum"])
        self.weight_sum.copy_(state["weight_sum"])
        self.steps_in_sum = int(state["steps_in_sum"])


def _first_bad(first_bad: torch.Tensor, values: torch.Tensor, step: int) -> torch.Tensor:
    """Record ``step`` where ``values`` first turns non-finite, on the device (no host sync)."""
    return torch.where(~torch.isfinite(values) & (first_bad < 0), step, first_bad)
