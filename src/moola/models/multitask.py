"""What the loop, the balancers and the probe need of a model: a shared trunk and task heads.

JadeCompact is one such model; an objective may bring another (a reconstruction head for
pretraining, a toy model in the tests). Nothing else about the model is assumed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

import torch
from torch import nn

from moola.errors import ConfigError


class MultiTaskModel(nn.Module, ABC):
    """A model whose forward pass is ``decode(encode(x))``, every head on one trunk."""

    @abstractmethod
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The shared representation of ``x`` (what the heads read)."""

    @abstractmethod
    def decode_tasks(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The heads, each reading its own task's input (keyed by task name): one backward
        pass then gives every task's gradient on the representation separately."""

    @abstractmethod
    def task_names(self) -> tuple[str, ...]:
        """The tasks whose heads this model has (the keys :meth:`decode_tasks` reads)."""

    @abstractmethod
    def trunk_parameters(self) -> list[nn.Parameter]:
        """The parameters every task uses: gradient balance is measured on them."""

    @abstractmethod
    def head_parameters(self) -> list[nn.Parameter]:
        """The parameters downstream of the trunk."""

    def last_trunk_layer(self) -> list[nn.Parameter]:
        """The trunk's last layer, where GradNorm measures gradient norms (default: all of
        the trunk)."""
        return self.trunk_parameters()

    def decode(self, trunk_out: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every head's output, by output key, from the shared representation."""
        return self.decode_tasks(dict.fromkeys(self.task_names(), trunk_out))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.decode(self.encode(x))

    def log_sigma(self, task: str) -> nn.Parameter:
        """A learnable log-sigma per task, for uncertainty weighting."""
        raise ConfigError(
            f"{type(self).__name__} has no learnable log-sigma for task {task!r}; the "
            "'uncertainty' balancer needs one per task: choose another balancer"
        )


def copy_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the model's weights (the live tensors keep training)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
