"""The default balancer: each task's gradient norm on the shared trunk ∝ its priority.

The aim is measured, not assumed: weight wᵢ = pᵢ / ‖∇_trunk Lᵢ‖, so every task's weighted
trunk gradient has norm ∝ pᵢ. Measuring ‖∇_trunk Lᵢ‖ exactly costs one extra backward
pass through the BiLSTM per task; doing that every step would cost ~3× a plain step. So
the norm is factored as

    ‖∇_trunk Lᵢ‖ = κᵢ · ‖∂Lᵢ/∂h‖,    h = the LSTM output (shared representation)

``‖∂Lᵢ/∂h‖`` is measured on *every* step (a backward through the task's head only, which
is cheap), and the trunk's gain κᵢ is measured exactly every ``refresh_every`` steps.
On a refresh step the weights come from that step's exact trunk norms (spread 1); in
between they follow the batch-to-batch changes of the head gradients, with κ held.

Weights are scaled so that the total of the weighted trunk norms equals that of plain
priority weights (Σ pᵢ‖∇_trunk Lᵢ‖): the balancer redistributes the trunk-gradient budget,
it does not change its size. A task whose gradient vanishes gets a capped weight.
"""

from __future__ import annotations

import torch

from moola.balancing import grads as G
from moola.balancing.base import Balancer, StepContext
from moola.errors import ConfigError
from moola.tasks import TaskSet


class TrunkNormBalancer(Balancer):
    name = "trunknorm"
    uses_task_inputs = True
    data_parallel = True
    state_attrs = ("gain", "has_gain", "steps_since_refresh")

    def __init__(
        self,
        tasks: TaskSet,
        *,
        device: torch.device | str = "cpu",
        refresh_every: int = 10,
        dead_fraction: float = 1e-6,
        eps: float = 1e-30,
    ) -> None:
        super().__init__(tasks, device=device)
        if refresh_every < 1:
            raise ConfigError(f"trunknorm: refresh_every must be >= 1, got {refresh_every}")
        if not 0.0 < dead_fraction < 1.0:
            raise ConfigError(f"trunknorm: dead_fraction must be in (0, 1), got {dead_fraction}")
        self.refresh_every = refresh_every
        self.dead_fraction = dead_fraction
        self.eps = eps
        self.gain = torch.ones(len(tasks), device=self.device)  # κ: trunk norm / rep norm
        self.has_gain = False
        self.steps_since_refresh = 0
        #: Whether the latest backward measured the trunk norms exactly (for tests/probes).
        self.last_step_refreshed = False

    def will_refresh(self) -> bool:
        return not self.has_gain or self.steps_since_refresh >= self.refresh_every

    def step_variant(self) -> bool:
        return self.will_refresh()

    def advance_host_state(self, variant: object) -> None:
        self.advance(refreshed=bool(variant))

    def advance(self, *, refreshed: bool) -> None:
        """Host-side bookkeeping of one step (also replayed after a captured CUDA graph)."""
        if refreshed:
            self.has_gain = True
            self.steps_since_refresh = 0
        self.steps_since_refresh += 1
        self.last_step_refreshed = refreshed

    def weights_from_norms(self, trunk_norms: torch.Tensor) -> torch.Tensor:
        """wᵢ = pᵢ·c / nᵢ, with c = Σ pⱼnⱼ / Σ pⱼ.

        Every weighted trunk norm becomes pᵢ·c, so the total trunk-gradient budget equals
        that of plain priority weights, only redistributed. A task whose gradient vanishes
        (nᵢ below ``dead_fraction``·c, e.g. a saturated sigmoid) is capped at
        pᵢ/``dead_fraction`` instead of taking an unbounded weight; it cannot take budget
        from the others either, because c does not depend on its weight.
        """
        scale = (self.priorities * trunk_norms).sum() / self.priorities.sum()
        floor = (self.dead_fraction * scale).clamp_min(self.eps)
        return self.priorities * scale / torch.maximum(trunk_norms, floor)

    def backward(self, losses: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        rep_grads = G.representation_grads(losses, ctx)
        rep_norms = self.representation_norms(rep_grads, ctx)
        trunk = ctx.trunk_params

        refresh = self.will_refresh()
        if refresh:
            per_task = G.trunk_grads(ctx.trunk_out, rep_grads, trunk)
            trunk_norms = self.trunk_norms(per_task, trunk, ctx)
            # κ = trunk norm / representation norm; kept from the last refresh for a task whose
            # representation gradient vanished (κ is then 0/0). In place, so that a captured
            # CUDA graph of the in-between step sees the update.
            measured = rep_norms > self.eps
            gain = trunk_norms / rep_norms.clamp_min(self.eps)
            self.gain.copy_(torch.where(measured, gain, self.gain).detach())
            weights = self.weights_from_norms(trunk_norms).detach()
            G.accumulate(trunk, G.combine(per_task, weights))
        else:
            weights = self.weights_from_norms(self.gain * rep_norms).detach()
            G.trunk_backward(rep_grads, weights, ctx)
        G.head_backward(losses, weights, ctx)
        self.advance(refreshed=refresh)
        return weights

    # ------------------------------------------------------------------ data parallel
    # Each rank holds the gradients of its shard's mean loss; the whole batch's loss is the
    # mean of the W shards' (equal shards). Its gradient on rank r's part of the
    # representation is gᵣ/W, so its norm is sqrt(Σᵣ‖gᵣ‖²)/W; its trunk gradient is the mean
    # of the ranks' trunk gradients. Reduced so, the norms (and so the weights) are those one
    # process computes on the whole batch, and rank 0's values make them the same bits on
    # every rank. The gradients themselves are averaged by the step, after the balancer.
    @staticmethod
    def representation_norms(rep_grads: list[torch.Tensor], ctx: StepContext) -> torch.Tensor:
        """Each task's gradient norm on the (whole batch's) shared representation."""
        collective = ctx.collective
        if not collective.active:
            return torch.stack([g.norm() for g in rep_grads])
        squares = torch.stack([g.double().pow(2).sum() for g in rep_grads])
        collective.sum_(squares)
        norms = (squares.sqrt() / collective.world).to(rep_grads[0].dtype)
        collective.agree_(norms)
        return norms

    @staticmethod
    def trunk_norms(
        per_task: list[G.Grads], trunk: list[torch.nn.Parameter], ctx: StepContext
    ) -> torch.Tensor:
        """Each task's gradient norm on the trunk (of the whole batch's loss)."""
        collective = ctx.collective
        if not collective.active:
            return G.stacked_norms(per_task, trunk)
        flat = [G.flatten(grads, trunk) for grads in per_task]
        collective.mean_(flat)  # copies: the ranks' own gradients are accumulated as they are
        norms = torch.stack([f.norm() for f in flat])
        collective.agree_(norms)
        return norms
