"""The one small interface every loss balancer implements.

A balancer receives the stacked per-task losses of a step and is responsible for filling
the parameters' ``.grad`` (it owns the backward pass, because methods such as PCGrad act
on gradients rather than on loss weights). It returns the per-task weights it applied, as
a detached device tensor, so that probes and logs can see them without a host sync.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from moola.collective import SINGLE, Collective
from moola.models.multitask import MultiTaskModel
from moola.tasks import TaskSet


@dataclass
class StepContext:
    """What a balancer may use on one train step besides the losses."""

    model: MultiTaskModel
    trunk_out: torch.Tensor  # the shared representation (LSTM output), still in the graph
    step: int = 0
    #: Per-task leaves the heads read (detached copies of ``trunk_out``, in task order), when
    #: the forward was split for a balancer with ``uses_task_inputs``. None: heads read
    #: ``trunk_out`` directly, and per-task gradients take one backward pass per task.
    task_inputs: list[torch.Tensor] | None = None
    #: The other processes of a data-parallel run (:mod:`moola.collective`): a balancer with
    #: ``data_parallel`` reduces its measurements through it, so that its weights are those of
    #: the whole batch, the same on every rank.
    collective: Collective = SINGLE

    @property
    def trunk_params(self) -> list[torch.nn.Parameter]:
        return self.model.trunk_parameters()

    @property
    def head_params(self) -> list[torch.nn.Parameter]:
        return self.model.head_parameters()


class Balancer(ABC):
    """Base class: turns per-task losses into gradients on the model.

    The contract, all of it declared here with a default: :meth:`backward` (required),
    :meth:`after_step` (with ``needs_losses_after_step``), :meth:`parameters`,
    :meth:`step_variant` and :meth:`advance_host_state` (for steps captured in CUDA graphs),
    and :meth:`state_dict` / :meth:`load_state_dict` over ``state_attrs`` (checkpoints, and
    the snapshots a captured step restores). The train step calls nothing else.
    """

    name: ClassVar[str]
    #: True for methods that need the losses re-measured on the same batch after the
    #: optimizer step (FAMO); the trainer then calls :meth:`after_step`.
    needs_losses_after_step: ClassVar[bool] = False
    #: True for methods that need each task's gradient on the shared representation; the
    #: train step then feeds every head its own leaf (``StepContext.task_inputs``).
    uses_task_inputs: ClassVar[bool] = False
    #: True for methods whose weights are the whole batch's and the same on every rank under
    #: data parallelism (``torchrun``): fixed weights, learned ones whose gradients the step
    #: averages, or measurements reduced through ``StepContext.collective``.
    data_parallel: ClassVar[bool] = False
    #: Names of tensor attributes that make up the balancer's state.
    state_attrs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, tasks: TaskSet, *, device: torch.device | str = "cpu") -> None:
        self.tasks = tasks
        self.device = torch.device(device)
        self.priorities = tasks.priorities(self.device)

    @abstractmethod
    def backward(self, losses: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """Accumulate gradients into the model's ``.grad``; return the (T,) weights used."""

    def after_step(self, losses_after: torch.Tensor) -> None:  # noqa: B027 - optional hook
        """Called with the same batch's losses after the optimizer step, if requested."""

    def parameters(self) -> list[torch.nn.Parameter]:
        """Model parameters that only this balancer trains (included in the optimizer)."""
        return []

    def step_variant(self) -> Hashable:
        """Which form the next :meth:`backward` takes, for a balancer whose step is not the same
        every time (trunknorm: a refresh step measures the trunk norms exactly). A captured
        step records one CUDA graph per variant; None (the default): one form only."""
        return None

    def advance_host_state(self, variant: Hashable) -> None:  # noqa: B027 - optional hook
        """Replay the Python-side bookkeeping of one :meth:`backward` of ``variant``: a replayed
        CUDA graph runs the kernels only. Host state must live in ``state_attrs``."""

    # ------------------------------------------------------------------ helpers
    def weighted_backward(self, losses: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The plain path: backward of Σ wᵢ·Lᵢ with detached weights."""
        weights = weights.detach()
        (weights * losses).sum().backward()
        return weights

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for attr in self.state_attrs:
            value = getattr(self, attr)
            if isinstance(value, torch.Tensor):
                value = value.detach().clone()
            elif hasattr(value, "state_dict"):
                value = copy.deepcopy(value.state_dict())
            else:
                value = copy.deepcopy(value)  # a snapshot, never an alias of live state
            state[attr] = value
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = set(self.state_attrs) - set(state)
        if missing:
            raise KeyError(f"{self.name} balancer state is missing {sorted(missing)}")
        for attr in self.state_attrs:
            current, value = getattr(self, attr), state[attr]
            if isinstance(current, torch.Tensor) and isinstance(value, torch.Tensor):
                # In place: optimizers and captured CUDA graphs hold these very tensors.
                with torch.no_grad():
                    current.copy_(value.to(current.device))
            elif hasattr(current, "load_state_dict"):
                current.load_state_dict(value)
            else:  # a copy: restoring one snapshot twice must give the same state twice
                setattr(self, attr, copy.deepcopy(value))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tasks={list(self.tasks.names)})"
