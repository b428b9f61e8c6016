"""``pretrained.pt``: the weights ``moola pretrain`` exports, and what ``--init`` may start from.

Weights only, loadable with ``torch.load(weights_only=True)``: the trunk's and the trained
heads' tensors under JadeCompact's names, the model's sizes, the feature names, the heads
trained, and the recipe that made them (the command, the configuration, every data source
with the digest of its bars, the objective, the steps, the seed, the moola version). A
``kind`` tag tells it from a run's ``checkpoint.pt`` (a run's whole state, for ``--resume``)
and from ``best.pt`` (a run's best weights), so that each is refused by name where the
other is expected.

:func:`read_init_weights` reads whatever ``moola train --init`` may start from: this file,
or a ``moola train`` run's ``best.pt``; a ``checkpoint.pt`` is refused with what to pass.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from moola.atomic import atomic_write
from moola.rundir.best import BEST_FORMAT_VERSION
from moola.rundir.checkpoint import CheckpointError, check_plain, read_weights_only
from moola.rundir.layout import BEST_NAME, CHECKPOINT_NAME, PRETRAINED_KIND, PRETRAINED_NAME

#: The format of a pretrained-weights file (its ``kind`` is :data:`PRETRAINED_KIND`).
PRETRAINED_FORMAT_VERSION = 1


class PretrainedError(CheckpointError):
    """A file is not pretrained weights that a run can start from; the message says what is."""


def save_pretrained(
    path: str | os.PathLike[str],
    *,
    weights: Mapping[str, torch.Tensor],
    model_config: Mapping[str, Any],
    feature_names: Sequence[str],
    heads: Sequence[str],
    recipe: Mapping[str, Any],
) -> Path:
    """Write ``pretrained.pt`` atomically: tensors and plain data only (no code)."""
    for name, tensor in weights.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"refusing to export non-finite pretrained weights in {name!r}")
    document = {
        "kind": PRETRAINED_KIND,
        "format_version": PRETRAINED_FORMAT_VERSION,
        "model": {k: v.detach().cpu() for k, v in weights.items()},
        "model_config": dict(model_config),
        "feature_names": list(feature_names),
        "heads": list(heads),
        "recipe": dict(recipe),
    }
    check_plain(document, "pretrained weights")
    return atomic_write(path, lambda handle: torch.save(document, handle))


@dataclass(frozen=True)
class InitWeights:
    """Weights a run can start from, and where they came from."""

    #: ``pretrain`` (a ``pretrained.pt``) or ``run`` (a ``moola train`` run's ``best.pt``).
    kind: str
    path: Path
    weights: dict[str, torch.Tensor]
    #: JadeConfig's fields, ``n_features`` included.
    model_config: dict[str, Any]
    feature_names: tuple[str, ...]
    #: How the weights were made: a pretrain recipe, or the run's config and best step.
    recipe: dict[str, Any]
    #: sha256 of the file's bytes (the resume guard compares it).
    digest: str


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_pretrained(document: Any) -> bool:
    return isinstance(document, dict) and document.get("kind") == PRETRAINED_KIND


def resolve_init_path(path: Path) -> Path:
    """A weights file, or the file in a run folder: ``pretrained.pt`` (a pretraining run),
    else ``best.pt`` (a training run)."""
    if path.is_dir():
        for name in (PRETRAINED_NAME, BEST_NAME):
            if (path / name).is_file():
                return path / name
        hint = (
            f" (it has a {CHECKPOINT_NAME}: the run has not finished, or wrote no best weights)"
            if (path / CHECKPOINT_NAME).is_file()
            else ""
        )
        raise PretrainedError(
            f"run folder {path} has no {PRETRAINED_NAME} or {BEST_NAME} to start from{hint}"
        )
    if not path.is_file():
        raise PretrainedError(
            f"no weights at {path}: --init takes a moola pretrain output ({PRETRAINED_NAME} or "
            "its run folder), a moola train run folder, or 'pretrained'"
        )
    return path


def read_init_weights(path: str | os.PathLike[str]) -> InitWeights:
    """Pretrained weights or a run's best weights, read without running code; a run's
    resumable ``checkpoint.pt`` (or anything else) is refused by name."""
    file = resolve_init_path(Path(path))
    document = read_weights_only(file)
    if is_pretrained(document):
        version = document.get("format_version")
        if version != PRETRAINED_FORMAT_VERSION:
            raise PretrainedError(
                f"{file} holds pretrained weights of format {version!r}; this moola reads "
                f"format {PRETRAINED_FORMAT_VERSION}"
            )
        kind, recipe = "pretrain", document.get("recipe")
    elif isinstance(document, dict) and "optimizer" in document and "history" in document:
        raise PretrainedError(
            f"{file} is a run's resumable checkpoint, not weights to start from: to continue "
            f"that run use --resume; to start from its weights pass its run folder (its "
            f"{BEST_NAME}) or a moola pretrain output"
        )
    elif isinstance(document, dict) and "model_config" in document and "criterion" in document:
        if document.get("format_version") != BEST_FORMAT_VERSION:
            raise PretrainedError(f"{file} is a best.pt of an unknown format")
        kind = "run"
        recipe = {
            "command": "moola train",
            "objective": document.get("objective", "supervised"),
            "config": document.get("config"),
            "step": document.get("step"),
        }
    else:
        raise PretrainedError(
            f"{file} is not pretrained weights: --init takes a moola pretrain output "
            f"({PRETRAINED_NAME}), a moola train run's {BEST_NAME} or run folder, or 'pretrained'"
        )
    weights, sizes, names = (
        document.get("model"),
        document.get("model_config"),
        document.get("feature_names"),
    )
    if not isinstance(weights, dict) or not all(
        isinstance(v, torch.Tensor) for v in weights.values()
    ):
        raise PretrainedError(f"{file}: 'model' is not a dict of weight tensors")
    if not isinstance(sizes, dict) or not isinstance(names, list):
        raise PretrainedError(f"{file}: the model sizes or the feature names are not recorded")
    return InitWeights(
        kind=kind,
        path=file,
        weights=dict(weights),
        model_config=dict(sizes),
        feature_names=tuple(str(n) for n in names),
        recipe=dict(recipe) if isinstance(recipe, dict) else {},
        digest=file_digest(file),
    )


def load_pretrained(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A ``pretrained.pt`` document (a file or a pretraining run folder), checked."""
    file = Path(path)
    if file.is_dir():
        file = file / PRETRAINED_NAME
    if not file.is_file():
        raise PretrainedError(f"no pretrained weights at {file}")
    document = read_weights_only(file)
    if not is_pretrained(document):
        raise PretrainedError(f"{file} is not a moola pretrain output ({PRETRAINED_NAME})")
    return dict(document)
