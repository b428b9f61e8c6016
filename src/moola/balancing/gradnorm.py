"""GradNorm (Chen, Badrinarayanan, Lee & Rabinovich, ICML 2018).

Weights wᵢ are learned so that each weighted gradient norm Gᵢ = wᵢ·‖∇_W Lᵢ‖ on W, the
last shared layer (here: the last BiLSTM layer), tracks a target Ḡ·p̂ᵢ·rᵢ^α, where
rᵢ = (Lᵢ/Lᵢ(0)) / mean_j(L_j/L_j(0)) is the relative inverse training rate, α the
asymmetry and p̂ᵢ = pᵢ/mean(p) the relative priority. The target is a constant, and since
Gᵢ is linear in wᵢ the GradNorm loss Σ|Gᵢ − targetᵢ| has the exact gradient
sign(Gᵢ − targetᵢ)·‖∇_W Lᵢ‖ without a second-order backward. After each update the weights
are renormalised to sum to Σ priorities (the paper renormalises to the task count).
"""

from __future__ import annotations

import torch

from moola.balancing import grads as G
from moola.balancing.base import Balancer, StepContext
from moola.errors import ConfigError
from moola.tasks import TaskSet


class GradNormBalancer(Balancer):
    name = "gradnorm"
    uses_task_inputs = True
    state_attrs = ("weights", "optimizer", "initial_losses", "initialised")

    def __init__(
        self,
        tasks: TaskSet,
        *,
        device: torch.device | str = "cpu",
        alpha: float = 1.5,
        lr: float = 0.025,
    ) -> None:
        super().__init__(tasks, device=device)
        if not lr > 0:
            raise ConfigError(f"gradnorm: lr must be > 0, got {lr}")
        self.alpha = alpha
        self.weights = torch.nn.Parameter(self.priorities.clone())
        # capturable: the update can live inside a CUDA graph of the train step.
        self.optimizer = torch.optim.Adam([self.weights], lr=lr, capturable=capturable(self.device))
        self.initial_losses = torch.ones(len(tasks), device=self.device)
        self.initialised = torch.zeros((), dtype=torch.bool, device=self.device)
        self.relative_priority = self.priorities / self.priorities.mean()

    def backward(self, losses: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        detached = losses.detach()
        # L(0) is recorded on the first step without a host-side branch.
        self.initial_losses.copy_(torch.where(self.initialised, self.initial_losses, detached))
        self.initialised.fill_(True)

        weights = self.weights.detach().clone()
        rep_grads = G.representation_grads(losses, ctx)
        trunk = ctx.trunk_params
        per_task = G.trunk_grads(ctx.trunk_out, rep_grads, trunk)
        last_layer = _last_layer_indices(ctx)
        norms = torch.stack(
            [
                G.flatten([g[k] for k in last_layer], [trunk[k] for k in last_layer]).norm()
                for g in per_task
            ]
        )
        G.accumulate(trunk, G.combine(per_task, weights))
        G.head_backward(losses, weights, ctx)

        # Weight update (after the model's gradients are taken with the current weights).
        weighted_norms = weights * norms
        target = self.target_norms(weighted_norms, detached)
        # The exact gradient of Σ|Gᵢ − targetᵢ| in wᵢ (Gᵢ = wᵢ·normᵢ); assigned, not accumulated.
        self.weights.grad = (torch.sign(weighted_norms - target) * norms).to(self.weights.dtype)
        self.optimizer.step()
        with torch.no_grad():
            self.weights.clamp_(min=1e-6)
            self.weights.mul_(self.priorities.sum() / self.weights.sum())
        return weights

    def target_norms(self, weighted_norms: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        """targetᵢ = mean(G)·p̂ᵢ·rᵢ^α with rᵢ = (Lᵢ/Lᵢ(0)) / mean_j(L_j/L_j(0)): a task whose
        loss fell less than the others' (rᵢ > 1) gets a larger share of the gradient."""
        ratio = losses / self.initial_losses.clamp_min(1e-12)
        inverse_rate = ratio / ratio.mean().clamp_min(1e-12)
        return weighted_norms.mean() * self.relative_priority * inverse_rate**self.alpha


def capturable(device: torch.device) -> bool:
    """Whether an optimizer on ``device`` must be capturable (inside a CUDA graph)."""
    return device.type == "cuda"


def _last_layer_indices(ctx: StepContext) -> list[int]:
    """Positions in ``trunk_params`` of the trunk's last layer (JadeCompact: the last LSTM
    layer, both directions)."""
    last = {id(p) for p in ctx.model.last_trunk_layer()}
    return [i for i, p in enumerate(ctx.trunk_params) if id(p) in last]
