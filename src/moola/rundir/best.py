"""``best.pt``: the validation-best weights alone, written atomically and read without running code.

Weights only, loadable with ``torch.load(weights_only=True)``: the model ``state_dict``, the
training config, the model config, the feature names, the step, the selection score and
its criterion, and a format version. Which step is best is training's business
(:mod:`moola.train.loop.best`); this module only writes and reads the file, so inference
loads it without the trainer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from moola.atomic import atomic_write
from moola.errors import MoolaError
from moola.rundir.checkpoint import check_plain, read_weights_only
from moola.rundir.layout import BEST_NAME

BEST_FORMAT_VERSION = 1
#: How the best step is chosen (recorded in ``best.pt`` and ``metrics.json``).
CRITERION = "mean over heads of validation loss / prior (lower is better)"


def save_best(
    path: str | os.PathLike[str],
    *,
    weights: Mapping[str, torch.Tensor],
    step: int,
    score: float,
    config: Mapping[str, Any],
    model_config: Mapping[str, Any],
    feature_names: Sequence[str],
    objective: str = "supervised",
) -> Path:
    """Write ``best.pt`` atomically: weights and what is needed to rebuild the model, no code.
    ``objective``: what the run learned (a pretraining run's best weights are not a model
    that ``moola predict`` can use)."""
    document = {
        "format_version": BEST_FORMAT_VERSION,
        "model": dict(weights),
        "config": dict(config),
        "model_config": dict(model_config),
        "feature_names": list(feature_names),
        "step": step,
        "score": score,
        "criterion": CRITERION,
        "objective": objective,
    }
    check_plain(document, "best weights")
    return atomic_write(path, lambda handle: torch.save(document, handle))


def load_best(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``best.pt`` (a file or the run folder) with ``weights_only=True``: no code runs."""
    path = Path(path)
    if path.is_dir():
        path = path / BEST_NAME
    if not path.is_file():
        raise MoolaError(f"no best weights at {path}; train with an output folder first")
    document = read_weights_only(path)
    if not isinstance(document, dict) or document.get("format_version") != BEST_FORMAT_VERSION:
        found = document.get("format_version") if isinstance(document, dict) else None
        raise MoolaError(
            f"{path} is not a moola best.pt of format {BEST_FORMAT_VERSION} (found {found!r})"
        )
    return document
