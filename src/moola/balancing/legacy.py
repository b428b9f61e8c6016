"""The original LossNormalizer, reproduced faithfully. NOT FOR USE.

It exists so that the test suite can demonstrate the failure it caused: each loss is
divided by its running mean (an arithmetic mean over the warm-up steps, then an EMA with
momentum 0.95), read back as a Python float, and then weighted 0.10/0.70/0.10/0.10.
Equal normalised *loss* magnitudes do not give equal *gradient* magnitudes on the shared
trunk, and with raw countdown targets the countdown head starved (15.99 -> 15.93).

The warm-up length of the original is not recorded in the reference facts; 10 steps is
assumed and configurable.
"""

from __future__ import annotations

import torch

from moola.balancing.base import Balancer, StepContext
from moola.errors import ConfigError
from moola.tasks import TaskSet


class LegacyNormalizerBalancer(Balancer):
    """Running-mean loss normalisation + fixed priorities (reproduces the countdown starvation)."""

    name = "legacy"
    state_attrs = ("running_means", "step_count")

    def __init__(
        self,
        tasks: TaskSet,
        *,
        device: torch.device | str = "cpu",
        momentum: float = 0.95,
        warmup_steps: int = 10,
    ) -> None:
        super().__init__(tasks, device=device)
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"legacy: momentum must be in [0, 1), got {momentum}")
        if warmup_steps < 0:
            raise ConfigError(f"legacy: warmup_steps must be >= 0, got {warmup_steps}")
        self.momentum = momentum
        self.warmup_steps = warmup_steps
        self.running_means: dict[str, float] = {}
        self.step_count = 0

    def normalizers(self, losses: torch.Tensor) -> list[float]:
        """Update the running means with this step's losses (host floats, as the original)."""
        self.step_count += 1
        means = []
        for name, loss in zip(self.tasks.names, losses):
            value = loss.item()  # the original's host sync, kept on purpose
            if name not in self.running_means:
                self.running_means[name] = value
            if self.step_count > self.warmup_steps:
                self.running_means[name] = (
                    self.momentum * self.running_means[name] + (1 - self.momentum) * value
                )
            else:
                self.running_means[name] = (
                    self.running_means[name] * (self.step_count - 1) + value
                ) / self.step_count
            means.append(self.running_means[name])
        return means

    def backward(self, losses: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        means = self.normalizers(losses)
        total = losses.new_zeros(())
        weights = []
        for i, (prio, mean) in enumerate(zip(self.priorities.tolist(), means)):
            normalised = losses[i] / mean if mean > 1e-8 else losses[i]  # float division
            total = total + prio * normalised
            weights.append(prio / mean if mean > 1e-8 else prio)
        total.backward()
        return torch.tensor(weights, device=losses.device)
