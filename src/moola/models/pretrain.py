"""JadeCompact with a reconstruction head: the model ``moola pretrain`` trains.

The trunk and the four heads are JadeCompact's own modules under JadeCompact's own names
(``lstm.*``, ``projection.*``, ``type_head.*`` ...), so ``moola train --init`` loads them
into a plain JadeCompact. The reconstruction head reads the trunk's per-bar output and
predicts every input feature of that bar (the masked objective). Which heads a run trains
is the objective's choice (``heads``): the others exist, untouched, and are neither
trained nor exported.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from moola.errors import ConfigError
from moola.models.jade_core import OUTPUT_KEYS, JadeCompact, JadeConfig

#: The task (and output key) of the reconstruction head.
RECONSTRUCTION = "reconstruction"

#: The heads a pretraining run can train: JadeCompact's four and the reconstruction.
PRETRAIN_HEADS: tuple[str, ...] = (*OUTPUT_KEYS, RECONSTRUCTION)

#: Each JadeCompact head's modules (their ``state_dict`` prefixes); type and pointers read
#: the pooled projection.
HEAD_MODULES: dict[str, tuple[str, ...]] = {
    "type": ("projection", "type_head"),
    "pointers": ("projection", "pointer_head"),
    "binary": ("expansion_binary_head",),
    "countdown": ("expansion_countdown_head",),
    RECONSTRUCTION: ("reconstruction_head",),
}

#: The trunk's modules: what every head reads.
TRUNK_MODULES: tuple[str, ...] = ("lstm",)


class PretrainModel(JadeCompact):
    """JadeCompact plus a per-bar reconstruction head; ``heads`` are the ones trained."""

    def __init__(self, config: JadeConfig, heads: tuple[str, ...]) -> None:
        super().__init__(config)  # JadeCompact's parameters first: the same draws as its own
        unknown = [h for h in heads if h not in PRETRAIN_HEADS]
        jade = [h for h in heads if h in OUTPUT_KEYS]
        if unknown or not heads:
            raise ConfigError(
                f"unknown pretraining head(s) {unknown or heads}; choose from {PRETRAIN_HEADS}"
            )
        if jade and len(jade) != len(OUTPUT_KEYS):
            raise ConfigError(f"JadeCompact's heads train together: {tuple(OUTPUT_KEYS)}")
        self.heads = tuple(heads)
        self.reconstruction_head = nn.Linear(2 * config.hidden_size, config.n_features)
        self.log_sigma_reconstruction = nn.Parameter(torch.tensor(0.0))

    def task_names(self) -> tuple[str, ...]:
        return self.heads

    def trains_jade_heads(self) -> bool:
        return any(h in OUTPUT_KEYS for h in self.heads)

    def decode_tasks(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        if self.trains_jade_heads():
            out.update(super().decode_tasks({k: inputs[k] for k in OUTPUT_KEYS}))
        if RECONSTRUCTION in self.heads:
            out[RECONSTRUCTION] = self.reconstruction_head(inputs[RECONSTRUCTION])
        return out

    def head_parameters(self) -> list[nn.Parameter]:
        """The trained heads' parameters only: an untrained head gets no gradient."""
        params = super().head_parameters() if self.trains_jade_heads() else []
        if RECONSTRUCTION in self.heads:
            params += list(self.reconstruction_head.parameters())
        return params

    def log_sigma(self, task: str) -> nn.Parameter:
        if task == RECONSTRUCTION:
            return self.log_sigma_reconstruction
        return super().log_sigma(task)

    def exported_modules(self) -> tuple[str, ...]:
        """The ``state_dict`` prefixes a pretrained checkpoint holds: the trunk and the
        trained heads, each module once."""
        modules = [m for head in self.heads for m in HEAD_MODULES[head]]
        return TRUNK_MODULES + tuple(dict.fromkeys(modules))

    def exported_state(self) -> dict[str, torch.Tensor]:
        """The trunk's and the trained heads' weights (detached CPU copies)."""
        prefixes = tuple(f"{m}." for m in self.exported_modules())
        return {
            name: tensor.detach().cpu().clone()
            for name, tensor in self.state_dict().items()
            if name.startswith(prefixes)
        }
