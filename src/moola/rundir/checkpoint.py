"""Checkpoint format 2: tensors and plain data only, written atomically, validated on load.

Loading a checkpoint never runs code from it. ``torch.load(weights_only=True)`` refuses any
pickled object that is not a tensor or plain data (dict, list, tuple, str, int, float, bool,
None), and :func:`save_checkpoint` refuses to write anything else, so every checkpoint moola
writes can be read back that way. Every way a file can fail to be a usable checkpoint gets
one line naming the file and the problem (:class:`CheckpointError`).
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from moola.atomic import atomic_write
from moola.errors import MoolaError
from moola.rundir.layout import CHECKPOINT_NAME, PRETRAINED_KIND

FORMAT_VERSION = 2

#: Top-level keys of a format-2 checkpoint.
REQUIRED_KEYS: tuple[str, ...] = (
    "format_version",
    "config",
    "step",
    "model",
    "optimizer",
    "balancer",
    "rng",
    "history",
    "initial",
    "accumulators",
    "feature_names",
    "fingerprint",
    "best_tracker",
)

#: Plain values a checkpoint may hold besides tensors and containers.
_PLAIN = (str, int, float, bool, type(None))
_ZIP_MAGIC = b"PK\x03\x04"


class CheckpointError(MoolaError):
    """A file is not a usable moola checkpoint; the message names the file and the problem."""


def save_checkpoint(state: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``state`` atomically to ``path``: finite weights and plain data only."""
    path = Path(path)
    model_state = state.get("model", {})
    for name, tensor in model_state.items():
        floating = isinstance(tensor, torch.Tensor) and tensor.is_floating_point()
        if floating and not bool(torch.isfinite(tensor).all()):
            raise MoolaError(f"refusing to write a checkpoint with non-finite weights in {name!r}")
    document = {"format_version": FORMAT_VERSION, **state}
    check_plain(document)
    atomic_write(path, lambda handle: torch.save(document, handle))
    return path


def check_plain(value: Any, where: str = "checkpoint") -> None:
    """Raise if ``value`` holds anything but tensors and plain data (so it loads weights-only)."""
    if isinstance(value, torch.Tensor):
        return
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, _PLAIN):
                raise MoolaError(f"{where} has a key of type {type(key).__name__}: {key!r}")
            check_plain(item, f"{where}[{key!r}]")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_plain(item, f"{where}[{i}]")
        return
    raise MoolaError(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}; a checkpoint may "
        "hold only tensors and plain data (it is loaded with weights_only=True)"
    )


def resolve_checkpoint_path(path: str | os.PathLike[str]) -> Path:
    """A checkpoint file, or the output folder holding ``checkpoint.pt``."""
    path = Path(path)
    if path.is_dir():
        inner = path / CHECKPOINT_NAME
        if not inner.is_file():
            raise CheckpointError(
                f"folder {path} has no {CHECKPOINT_NAME}; train first or point at a checkpoint file"
            )
        return inner
    if not path.exists():
        raise CheckpointError(
            f"no checkpoint at {path}; train first or point --resume at a checkpoint"
        )
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a format-2 checkpoint, never running code from the file."""
    path = resolve_checkpoint_path(path)
    state = read_weights_only(path)
    validate_checkpoint(state, path)
    return state


def read_weights_only(path: Path) -> Any:
    """``torch.load(weights_only=True)`` with one named error per way a file can be bad."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise CheckpointError(f"could not read checkpoint {path}: {exc.strerror or exc}") from exc
    if not head:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes)")
    if head != _ZIP_MAGIC:
        raise CheckpointError(
            f"{path} is not a moola checkpoint (not a torch zip archive; it starts with {head!r}); "
            "moola does not unpickle it"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"(?:Unsupported global: |unsupported )GLOBAL ([\w.]+)", str(exc))
        what = f"it asks to import {found.group(1)}" if found else "it holds non-plain pickle data"
        raise CheckpointError(
            f"refusing to load {path}: {what}; a moola checkpoint holds only tensors and plain "
            "data, and loading one never runs code from it"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({first_line[:120]})"
        ) from None


def validate_checkpoint(state: Any, path: Path) -> None:
    """The structure every later step relies on: keys, version, and the types of the parts."""
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{path} is not a moola checkpoint (it holds a {type(state).__name__}, not a dict)"
        )
    if state.get("kind") == PRETRAINED_KIND:
        raise CheckpointError(
            f"{path} holds pretrained weights (moola pretrain's output), not a run's checkpoint: "
            f"start a run from them with moola train --init {path}"
        )
    if "format_version" not in state:
        raise CheckpointError(f"{path} is not a moola checkpoint (it has no format_version)")
    version = state["format_version"]
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version!r}; this moola reads version "
            f"{FORMAT_VERSION} (re-train, or use the moola release that wrote it)"
        )
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} is missing key(s) {missing}")
    expected_types: dict[str, type | tuple[type, ...]] = {
        "config": dict,
        "step": int,
        "model": dict,
        "optimizer": dict,
        "balancer": dict,
        "rng": dict,
        "history": dict,
        "accumulators": dict,
        "feature_names": list,
        "fingerprint": str,
    }
    for key, kind in expected_types.items():
        if not isinstance(state[key], kind) or isinstance(state[key], bool):
            raise CheckpointError(
                f"checkpoint {path}: {key!r} is a {type(state[key]).__name__}, "
                f"expected a {getattr(kind, '__name__', kind)}"
            )
    bad_weights = [k for k, v in state["model"].items() if not isinstance(v, torch.Tensor)]
    if bad_weights:
        raise CheckpointError(f"checkpoint {path}: model entries {bad_weights} are not tensors")


def check_model_shapes(
    saved: Mapping[str, torch.Tensor], model: torch.nn.Module, path: str | os.PathLike[str]
) -> None:
    """Refuse weights whose names or shapes differ from the model built from the config."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    wrong = [
        f"{k} {tuple(saved[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in saved and tuple(saved[k].shape) != tuple(v.shape)
    ]
    problems = []
    if wrong:
        problems.append("shapes differ (checkpoint vs config): " + ", ".join(wrong[:3]))
    if missing:
        problems.append(f"missing weights {missing[:3]}")
    if unexpected:
        problems.append(f"unexpected weights {unexpected[:3]}")
    if problems:
        raise CheckpointError(
            f"checkpoint {path}: the model does not match its configuration: " + "; ".join(problems)
        )


def check_feature_names(
    saved: list[str], actual: tuple[str, ...], path: str | os.PathLike[str]
) -> None:
    """The model reads features by position, so the data must give the same ones in order."""
    if list(saved) != list(actual):
        raise CheckpointError(
            f"checkpoint {path} was trained on features {list(saved)} but the data gives "
            f"{list(actual)}"
        )
