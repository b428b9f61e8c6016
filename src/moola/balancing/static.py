"""Fixed weights: the task priorities themselves."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from moola.balancing.base import Balancer, StepContext
from moola.errors import ConfigError
from moola.tasks import TaskSet


class StaticBalancer(Balancer):
    """Σ wᵢ·Lᵢ with constant weights (default: the task priorities)."""

    name = "static"
    data_parallel = True

    def __init__(
        self,
        tasks: TaskSet,
        *,
        device: torch.device | str = "cpu",
        weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__(tasks, device=device)
        if weights is None:
            self.weights = self.priorities.clone()
        else:
            if len(weights) != len(tasks):
                raise ConfigError(f"static: expected {len(tasks)} weights, got {len(weights)}")
            host = torch.tensor([float(w) for w in weights])  # checked on the host, as float32
            if not bool(torch.isfinite(host).all()) or bool((host < 0).any()):
                raise ConfigError(f"static: weights must be finite and >= 0, got {list(weights)}")
            self.weights = host.to(self.device)

    def backward(self, losses: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return self.weighted_backward(losses, self.weights)
