"""The eval-mode forward pass that training's evaluation and inference both run."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def forward_eval(
    model: nn.Module, x: torch.Tensor, *, batch_size: int = 256
) -> dict[str, torch.Tensor]:
    """Model outputs for ``x`` in eval mode, concatenated over chunks of ``batch_size``.

    Each chunk keeps copies of its per-window outputs only: an output may be a view of a
    larger activation of the forward pass, which would otherwise stay alive with it (about
    130 KB per window, the biggest cost of evaluating a large validation set). Scalar
    outputs (none in JadeCompact) are dropped. The model's train/eval mode is restored.
    """
    was_training = model.training
    model.eval()
    chunks = []
    for i in range(0, x.shape[0], batch_size):
        out = model(x[i : i + batch_size])
        chunks.append({k: v.clone() for k, v in out.items() if v.dim() > 0})
        del out
    model.train(was_training)
    return {k: torch.cat([c[k] for c in chunks]) for k in chunks[0]}
