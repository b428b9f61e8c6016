"""The train step: forward, losses, balancer backward, clipping and the optimizer update.

:class:`EagerStep` never reads a value back to the host (unless the balancer does, as the
legacy normaliser does on purpose): losses, weights and the gradient norm are returned as
device tensors. :class:`GraphedStep` captures the same step in CUDA graphs and replays it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from moola.balancing import Balancer, StepContext
from moola.collective import SINGLE, Collective
from moola.errors import ConfigError
from moola.models.multitask import MultiTaskModel
from moola.tasks import TaskSet

#: Balancers whose step can be captured in a CUDA graph (no host reads, no host-side
#: randomness, no internal optimizer state created lazily).
GRAPH_SAFE_BALANCERS = ("static", "trunknorm", "uncertainty")


@dataclass(frozen=True)
class StepOutput:
    losses: torch.Tensor  # (T,) training units, detached
    weights: torch.Tensor  # (T,) weights the balancer applied
    grad_norm: torch.Tensor  # () global gradient norm before clipping


def make_optimizer(
    params: list[torch.nn.Parameter],
    *,
    lr: float,
    weight_decay: float,
    device: torch.device,
    graph: bool,
) -> torch.optim.AdamW:
    """AdamW; fused on CUDA, capturable when the step is graph-captured, foreach on the CPU."""
    if device.type == "cuda":
        if graph:
            return torch.optim.AdamW(
                params, lr=lr, weight_decay=weight_decay, capturable=True, foreach=True
            )
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=True)


class EagerStep:
    def __init__(
        self,
        model: MultiTaskModel,
        tasks: TaskSet,
        balancer: Balancer,
        optimizer: torch.optim.Optimizer,
        *,
        grad_clip: float | None,
        bf16: bool = False,
        freeze_trunk_steps: int = 0,
        collective: Collective = SINGLE,
    ) -> None:
        self.model = model
        self.tasks = tasks
        self.balancer = balancer
        self.optimizer = optimizer
        self.grad_clip = grad_clip
        self.bf16 = bf16
        #: Steps before this one train the heads only (``--freeze-trunk-steps``).
        self.freeze_trunk_steps = freeze_trunk_steps
        #: The other processes of a data-parallel run (:mod:`moola.collective`).
        self.collective = collective
        self.params = [p for group in optimizer.param_groups for p in group["params"]]

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager[Any]:
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)

    def forward_losses(
        self, x: torch.Tensor, targets: Mapping[str, torch.Tensor], *, split: bool = False
    ) -> tuple[torch.Tensor, StepContext]:
        """Losses and the context for the balancer; ``split`` gives every head its own leaf."""
        with self.autocast(x.device):
            trunk_out = self.model.encode(x)
            if split:
                leaves = {name: trunk_out.detach().requires_grad_() for name in self.tasks.names}
                outputs = self.model.decode_tasks(leaves)
                task_inputs: list[torch.Tensor] | None = [leaves[n] for n in self.tasks.names]
            else:
                outputs, task_inputs = self.model.decode(trunk_out), None
            losses = self.tasks.losses(outputs, targets)
        if losses.dtype in (torch.float16, torch.bfloat16):
            losses = losses.float()  # balancers and accumulators work in at least float32
        ctx = StepContext(self.model, trunk_out, 0, task_inputs, collective=self.collective)
        return losses, ctx

    def __call__(
        self, x: torch.Tensor, targets: Mapping[str, torch.Tensor], step: int
    ) -> StepOutput:
        self.optimizer.zero_grad(set_to_none=True)
        losses, ctx = self.forward_losses(x, targets, split=self.balancer.uses_task_inputs)
        ctx.step = step
        weights = self.balancer.backward(losses, ctx)
        if step < self.freeze_trunk_steps:
            self.drop_trunk_gradients()
        losses = losses.detach()
        if self.collective.active:  # the whole batch's gradients and losses, on every rank
            self.collective.mean_([p.grad for p in self.params if p.grad is not None])
            losses = losses.clone()
            self.collective.mean_([losses])
        grad_norm = self.clip_gradients()
        self.optimizer.step()
        if self.balancer.needs_losses_after_step:
            with torch.no_grad():
                after, _ = self.forward_losses(x, targets)
            self.balancer.after_step(after)
        return StepOutput(losses, weights, grad_norm)

    def drop_trunk_gradients(self) -> None:
        """Heads first: the trunk keeps its weights (and AdamW, which skips a parameter
        without a gradient, neither moves nor decays it, nor starts its moments). The
        balancer has measured the trunk's gradients already: its weights are those of an
        unfrozen step, not of a trunk without gradients."""
        for p in self.model.trunk_parameters():
            p.grad = None

    def clip_gradients(self) -> torch.Tensor:
        """The global gradient norm (a device tensor), clipping to ``grad_clip`` if set."""
        if self.grad_clip is not None:
            return torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip, foreach=True)
        return torch.stack([p.grad.norm() for p in self.params if p.grad is not None]).norm()


class GraphedStep(EagerStep):
    """The eager step captured in CUDA graphs, one per balancer "variant", and replayed.

    Inputs are copied into static buffers. Warm-up runs happen on a side stream and are
    then undone (parameters, optimizer and balancer state and RNG restored), so the
    training trajectory matches the eager one. Shapes must stay fixed (drop_last batches).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.balancer.name not in GRAPH_SAFE_BALANCERS:
            raise ConfigError(
                f"--graph supports the balancers {', '.join(GRAPH_SAFE_BALANCERS)}; "
                f"{self.balancer.name!r} reads values on the host or draws host-side randomness"
            )
        self.graphs: dict[Hashable, tuple[torch.cuda.CUDAGraph, StepOutput]] = {}
        self.static_x: torch.Tensor | None = None
        self.static_targets: dict[str, torch.Tensor] = {}

    def variant(self) -> Hashable:
        return self.balancer.step_variant()

    def __call__(
        self, x: torch.Tensor, targets: Mapping[str, torch.Tensor], step: int
    ) -> StepOutput:
        if x.device.type != "cuda":
            raise ConfigError("--graph needs a CUDA device; use --device cuda or drop --graph")
        if self.static_x is None:
            self.static_x = x.clone()
            self.static_targets = {k: v.clone() for k, v in targets.items()}
        if x.shape != self.static_x.shape:
            raise ConfigError(
                f"--graph needs fixed batch shapes; got {tuple(x.shape)} after {tuple(self.static_x.shape)}"
            )
        self.static_x.copy_(x)
        for k, v in targets.items():
            self.static_targets[k].copy_(v)
        key = self.variant()
        if key not in self.graphs:
            self.graphs[key] = self.capture(step)
        graph, output = self.graphs[key]
        graph.replay()
        # The Python-side bookkeeping that the captured backward() did once, at capture.
        self.balancer.advance_host_state(key)
        return output

    def capture(self, step: int) -> tuple[torch.cuda.CUDAGraph, StepOutput]:
        assert self.static_x is not None
        saved = self._snapshot()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                super().__call__(self.static_x, self.static_targets, step)
        torch.cuda.current_stream().wait_stream(side)
        self._restore(saved)

        graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)
        # Capturing runs backward()'s Python once (no kernels): undo its host-side bookkeeping.
        balancer_state = self.balancer.state_dict()
        with torch.cuda.graph(graph):
            output = super().__call__(self.static_x, self.static_targets, step)
        self.balancer.load_state_dict(balancer_state)
        return graph, output

    def _snapshot(self) -> dict[str, Any]:
        opt_state = [
            {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in s.items()}
            for s in (self.optimizer.state[p] for p in self.params)
        ]
        return {
            "params": [p.detach().clone() for p in self.params],
            "optimizer": opt_state,
            "balancer": self.balancer.state_dict(),
            "cuda_rng": torch.cuda.get_rng_state(),
            "cpu_rng": torch.get_rng_state(),
        }

    def _restore(self, saved: dict[str, Any]) -> None:
        with torch.no_grad():
            for p, value in zip(self.params, saved["params"]):
                p.copy_(value)
            for p, old in zip(self.params, saved["optimizer"]):
                state = self.optimizer.state[p]
                for k, v in state.items():
                    if not isinstance(v, torch.Tensor):
                        continue
                    if k in old:
                        v.copy_(old[k])
                    else:  # created by the warm-up: a fresh Adam state is all zeros
                        v.zero_()
        self.balancer.load_state_dict(saved["balancer"])
        torch.cuda.set_rng_state(saved["cuda_rng"])
        torch.set_rng_state(saved["cpu_rng"])
