"""Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018).

With s = log σ per task and the model's learnable log-sigma parameters:

* regression tasks (pointers, countdown), Gaussian likelihood: ½·e^{-2s}·L + s
* classification tasks (type, binary), softmax/Bernoulli likelihood (the paper's
  approximation): e^{-2s}·L + s

Each term is multiplied by the task's priority relative to the mean priority, so equal
priorities give the paper's objective and the default 0.10/0.70/0.10/0.10 keeps its
intent. The log-sigmas are trained by the same optimizer as the model.
"""

from __future__ import annotations

import torch

from moola.balancing.base import Balancer, StepContext
from moola.tasks import RegressionTask, TaskSet


class UncertaintyBalancer(Balancer):
    name = "uncertainty"
    data_parallel = True

    def __init__(self, tasks: TaskSet, *, device: torch.device | str = "cpu") -> None:
        super().__init__(tasks, device=device)
        self.likelihood_factor = torch.tensor(
            [0.5 if isinstance(t, RegressionTask) else 1.0 for t in tasks], device=self.device
        )
        self.relative_priority = self.priorities / self.priorities.mean()

    def backward(self, losses: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        log_sigma = torch.stack([ctx.model.log_sigma(name) for name in self.tasks.names])
        precision = self.likelihood_factor * torch.exp(-2.0 * log_sigma)
        total = (self.relative_priority * (precision * losses + log_sigma)).sum()
        total.backward()
        return (self.relative_priority * precision).detach()
