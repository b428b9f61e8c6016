"""Atomic checkpoints: a crash mid-write never leaves a truncated or half-new file.

The state is written through :func:`moola.atomic.atomic_write` (temporary file, fsync,
``os.replace``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from moola.atomic import atomic_write
from moola.errors import MoolaError

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 1


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``state`` atomically to ``path`` (refusing non-finite model weights)."""
    path = Path(path)
    model_state = state.get("model", {})
    for name, tensor in model_state.items():
        floating = isinstance(tensor, torch.Tensor) and tensor.is_floating_point()
        if floating and not bool(torch.isfinite(tensor).all()):
            raise MoolaError(f"refusing to write a checkpoint with non-finite weights in {name!r}")
    atomic_write(
        path, lambda handle: torch.save({"format_version": FORMAT_VERSION, **state}, handle)
    )
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.exists():
        raise MoolaError(f"no checkpoint at {path}; train first or point --resume at a checkpoint")
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a corrupt file: say which
        raise MoolaError(f"could not read checkpoint {path}: {exc}") from exc
    if state.get("format_version") != FORMAT_VERSION:
        raise MoolaError(
            f"checkpoint {path} has format {state.get('format_version')!r}, expected {FORMAT_VERSION}"
        )
    return state
