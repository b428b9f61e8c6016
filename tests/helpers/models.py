"""Tiny JadeCompact models and random batches for unit tests: seconds-fast, dropout off, so
that two forwards of one batch are the same forward."""

from __future__ import annotations

from typing import Any

import torch

from moola.models import JadeCompact, JadeConfig
from moola.seeding import seed_everything
from moola.tasks import TaskSet


def tiny_model(
    n_features: int = 7,
    *,
    seed: int | None = None,
    dtype: torch.dtype = torch.float32,
    **sizes: Any,
) -> JadeCompact:
    """An 8-wide JadeCompact without dropout (``sizes`` override any JadeConfig field),
    seeded through :func:`moola.seeding.seed_everything` when ``seed`` is given."""
    if seed is not None:
        seed_everything(seed)
    config: dict[str, Any] = {
        "n_features": n_features,
        "hidden_size": 8,
        "projection_dim": 8,
        "input_dropout": 0.0,
        "dense_dropout": 0.0,
        **sizes,
    }
    return JadeCompact(JadeConfig(**config)).to(dtype)


def random_batch(
    tasks: TaskSet,
    *,
    size: int,
    window: int,
    n_features: int,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    max_span: int = 4,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Gaussian features and random labels/spans (spans of 1..``max_span`` bars), with the
    targets of ``tasks`` in ``dtype``."""
    x = torch.randn(size, window, n_features, generator=generator, dtype=dtype)
    label = torch.randint(0, 3, (size,), generator=generator)
    start = torch.randint(0, window - max_span, (size,), generator=generator)
    end = start + torch.randint(0, max_span, (size,), generator=generator)
    targets = tasks.build_targets(label, start, end, window=window)
    return x, {k: v.to(dtype) if v.is_floating_point() else v for k, v in targets.items()}
