"""FAMO: fast adaptive multitask optimisation (Liu, Liang, Chen & Liu, NeurIPS 2023).

Task logits ξ give weights z = softmax(ξ). The model descends Σ zᵢ·log(Lᵢ − minᵢ + ε),
rescaled by c = 1/Σ(zᵢ/(Lᵢ − minᵢ + ε)) so its size matches a plain loss gradient; every
moola loss is ≥ 0, so its lower bound minᵢ is 0 and ε keeps a vanished loss finite. After
the optimizer step, the drop of each log-loss on the same batch, δ, updates ξ through the
softmax Jacobian (ξ ← Adam(ξ, Jᵀδ) with weight decay γ), which raises the weight of tasks
whose loss fell least. ξ starts at log(priority), so the first step follows the priorities.
Defaults (lr 0.025, γ 0.001) are the paper's.
"""

from __future__ import annotations

import torch

from moola.balancing.base import Balancer, StepContext
from moola.errors import ConfigError
from moola.tasks import TaskSet


class FAMOBalancer(Balancer):
    name = "famo"
    needs_losses_after_step = True
    state_attrs = ("logits", "optimizer", "previous_losses")

    def __init__(
        self,
        tasks: TaskSet,
        *,
        device: torch.device | str = "cpu",
        lr: float = 0.025,
        weight_decay: float = 0.001,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(tasks, device=device)
        if not lr > 0:
            raise ConfigError(f"famo: lr must be > 0, got {lr}")
        if weight_decay < 0:
            raise ConfigError(f"famo: weight_decay must be >= 0, got {weight_decay}")
        self.eps = eps
        prio = self.priorities / self.priorities.sum()
        self.logits = torch.nn.Parameter(prio.log())
        self.optimizer = torch.optim.Adam([self.logits], lr=lr, weight_decay=weight_decay)
        self.previous_losses = torch.zeros(len(tasks), device=self.device)

    def task_weights(self) -> torch.Tensor:
        return torch.softmax(self.logits.detach(), dim=0)

    def backward(self, losses: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        z = self.task_weights()
        shifted = losses + self.eps  # Lᵢ − minᵢ + ε, minᵢ = 0
        scale = 1.0 / (z / shifted.detach()).sum()
        # d/dθ [c·Σ zᵢ log Lᵢ] = Σ (c·zᵢ/Lᵢ)·∇Lᵢ: effective loss weights c·zᵢ/Lᵢ.
        weights = (scale * z / shifted.detach()).detach()
        self.previous_losses = losses.detach().clone()
        (weights * losses).sum().backward()
        return weights

    def after_step(self, losses_after: torch.Tensor) -> None:
        before = (self.previous_losses + self.eps).log()
        after = (losses_after.detach() + self.eps).log()
        delta = before - after
        with torch.enable_grad():
            z = torch.softmax(self.logits, dim=0)
            (grad,) = torch.autograd.grad(z, self.logits, grad_outputs=delta)
        self.logits.grad = grad  # assigned, not accumulated: no zero_grad needed
        self.optimizer.step()
