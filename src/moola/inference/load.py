"""Load a trained model for prediction: a run folder, ``checkpoint.pt`` or ``best.pt``.

Both files are read with ``torch.load(weights_only=True)`` (through the checkpoint module's
reader), so loading never runs code from the file. What prediction needs besides the weights
comes from the file itself: the feature set and its names (the model reads features by
position), the window length (pointers are fractions of it, and the position feature is
``t / (K - 1)``) and the countdown's training scale (the head predicts bars × scale).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from moola.data.features import feature_names as feature_set_names
from moola.data.store import resolve_semantics
from moola.errors import ConfigError, FeatureMismatchError, MoolaError
from moola.models import JadeCompact, JadeConfig
from moola.rundir.best import BEST_FORMAT_VERSION
from moola.rundir.checkpoint import (
    CheckpointError,
    check_model_shapes,
    read_weights_only,
    validate_checkpoint,
)
from moola.rundir.layout import BEST_NAME, CHECKPOINT_NAME, PRETRAINED_KIND
from moola.tasks import RegressionTask, make_tasks

#: The inputs of a run recorded before ``inputs`` was a setting: every window on its own.
LEGACY_INPUTS = "window"

#: The weights ``load_model`` can pick from a run folder.
WEIGHTS = ("best", "final")


class ModelLoadError(CheckpointError):
    """A path does not hold a model that prediction can use; the message says what to pass."""


@dataclass
class LoadedModel:
    """A trained JadeCompact in eval mode, with what is needed to feed it and read its outputs."""

    model: JadeCompact = field(repr=False)
    feature_set: str
    feature_names: tuple[str, ...]
    window: int
    #: Countdown head output = bars × this (1/20 for the default normalised targets).
    countdown_scale: float
    weights: str  # "best" or "final"
    step: int
    path: Path
    config: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def inputs(self) -> str:
        """``series`` or ``window``: which bars its run's features saw (README "Inputs: per
        series or per window"); runs recorded before the choice existed saw the window."""
        recorded = self.config.get("inputs", LEGACY_INPUTS)
        return resolve_semantics(str(recorded), self.feature_set)


def load_model(path: str | os.PathLike[str], *, weights: str = "best") -> LoadedModel:
    """The model of a run folder (``best.pt`` by default, ``weights="final"``: ``checkpoint.pt``)
    or of a checkpoint file.

    A ``checkpoint.pt`` file given with ``weights="best"`` loads the ``best.pt`` beside it;
    a ``best.pt`` file holds the best weights only.
    """
    if weights not in WEIGHTS:
        raise ConfigError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    file = _resolve(Path(path), weights)
    document = read_weights_only(file)
    if not isinstance(document, dict):
        raise ModelLoadError(f"{file} is not a moola checkpoint or best.pt")
    refuse_pretraining(document, file)
    version = document.get("format_version")
    if "model_config" in document:
        if version != BEST_FORMAT_VERSION:
            raise ModelLoadError(
                f"{file} is a best.pt of format {version!r}; this moola reads format "
                f"{BEST_FORMAT_VERSION}"
            )
        if weights == "final":
            raise ModelLoadError(
                f"{file} holds the best weights only; for the final weights pass the run "
                f"folder or its {CHECKPOINT_NAME}"
            )
        kind = "best"
    else:
        validate_checkpoint(document, file)
        if weights == "best":
            best = file.parent / BEST_NAME
            if not best.is_file():
                raise ModelLoadError(
                    f"{file} has no {BEST_NAME} beside it; pass --weights final "
                    "(weights='final') to use the checkpoint's final weights"
                )
            return load_model(best, weights="best")
        kind = "final"
    return _build(document, file, kind)


def refuse_pretraining(document: dict[str, Any], file: Path) -> None:
    """Pretrained weights, or a pretraining run's files, are not a model that predicts: its
    heads learned another objective (or none). Say so, and how to use them."""
    if document.get("kind") == PRETRAINED_KIND:
        raise ModelLoadError(
            f"{file} holds pretrained weights (moola pretrain's output), not a trained model: "
            f"train from them with moola train --init {file}"
        )
    objective = document.get("objective", "supervised")
    if objective != "supervised":
        raise ModelLoadError(
            f"{file} is from a pretraining run (objective {objective!r}), not a trained model: "
            f"train from it with moola train --init {file.parent}"
        )


def _resolve(path: Path, weights: str) -> Path:
    if path.is_dir():
        name = BEST_NAME if weights == "best" else CHECKPOINT_NAME
        file = path / name
        if not file.is_file():
            hint = (
                f"; pass --weights final (weights='final') for {CHECKPOINT_NAME}"
                if weights == "best" and (path / CHECKPOINT_NAME).is_file()
                else "; train into it first (moola train --out DIR)"
            )
            raise ModelLoadError(f"run folder {path} has no {name}{hint}")
        return file
    if not path.exists():
        raise ModelLoadError(
            f"no run or checkpoint at {path}; pass a run folder (moola train --out DIR) "
            f"or its {CHECKPOINT_NAME} / {BEST_NAME}"
        )
    return path


def _build(document: dict[str, Any], file: Path, kind: str) -> LoadedModel:
    config = document.get("config")
    names = document.get("feature_names")
    if not isinstance(config, dict) or not isinstance(names, list):
        raise ModelLoadError(f"{file}: no training config or feature names recorded")
    feature_set = config.get("features")
    window = config.get("window")
    if not isinstance(feature_set, str) or not isinstance(window, int):
        raise ModelLoadError(f"{file}: the recorded config has no feature set or window")
    try:
        expected = feature_set_names(feature_set)
    except MoolaError as exc:
        raise ModelLoadError(
            f"{file}: feature set {feature_set!r} is unknown here ({exc})"
        ) from None
    if list(expected) != list(names):
        raise FeatureMismatchError(
            f"{file} was trained on features {names}, but feature set {feature_set!r} now "
            f"gives {list(expected)}; use the moola release that trained it"
        )
    sizes = document.get("model_config") if kind == "best" else config.get("model", {})
    if not isinstance(sizes, dict):
        raise ModelLoadError(f"{file}: the model sizes are not recorded")
    try:
        model_config = JadeConfig(**{**sizes, "n_features": len(names)})
        tasks = make_tasks(countdown_units=config.get("countdown_units", "normalized"))
    except (MoolaError, TypeError) as exc:
        raise ModelLoadError(f"{file}: the recorded configuration is invalid ({exc})") from None
    weights = document.get("model")
    if not isinstance(weights, dict) or not all(
        isinstance(v, torch.Tensor) for v in weights.values()
    ):
        raise ModelLoadError(f"{file}: 'model' is not a dict of weight tensors")
    model = JadeCompact(model_config)
    check_model_shapes(weights, model, file)
    model.load_state_dict(weights)
    model.eval()
    countdown = tasks["countdown"]
    assert isinstance(countdown, RegressionTask)
    step = document.get("step", 0)
    return LoadedModel(
        model=model,
        feature_set=feature_set,
        feature_names=tuple(names),
        window=window,
        countdown_scale=float(countdown.target_scale),
        weights=kind,
        step=int(step) if isinstance(step, int) else 0,
        path=file,
        config=dict(config),
    )
