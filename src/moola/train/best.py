"""The validation-best weights: one selection criterion, its tracker, and ``best.pt``.

**Criterion.** The score of an evaluation is the mean over heads of
``validation loss / constant baseline`` (lower is better; 1.0 = no better than the constant
predictor). It is computed at every ``eval_every`` step and at the end of the run; the step
with the lowest score is the *best step*. Ties keep the earlier step.

**Resume.** The tracker's state (best step, score, evaluation, weights and the count of
evaluations since the last improvement) lives in the resumable checkpoint. Only evaluations
on the ``eval_every`` grid are committed to it, because an uninterrupted run evaluates there
too; the end-of-run evaluation of a shorter run is only a *candidate* for that run's
``best.pt``. A resumed run therefore tracks exactly what an uninterrupted run tracks.

**``best.pt``.** Weights only, loadable with ``torch.load(weights_only=True)``: the model
``state_dict``, the training config, the model config, the feature names, the step, the
criterion and a format version. It is written atomically beside ``checkpoint.pt``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from moola.atomic import atomic_write
from moola.errors import MoolaError
from moola.train.checkpoint import check_plain, read_weights_only
from moola.train.metrics import Evaluation

BEST_NAME = "best.pt"
BEST_FORMAT_VERSION = 1
CRITERION = "mean over heads of validation loss / constant baseline (lower is better)"


def selection_score(losses: Mapping[str, float], baselines: Mapping[str, float]) -> float:
    """The criterion: mean over heads of validation loss ÷ constant baseline."""
    ratios = [losses[name] / baselines[name] for name in baselines]
    score = sum(ratios) / len(ratios)
    return score if math.isfinite(score) else math.inf


@dataclass
class BestRecord:
    """One candidate for the best weights: its step, score, evaluation and a copy of the weights."""

    step: int
    score: float
    evaluation: Evaluation
    weights: dict[str, torch.Tensor]

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "score": self.score,
            "evaluation": self.evaluation.to_dict(),
            "weights": self.weights,
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> BestRecord:
        evaluation = Evaluation(state["evaluation"]["losses"], state["evaluation"]["metrics"])
        return cls(int(state["step"]), float(state["score"]), evaluation, dict(state["weights"]))


def copy_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the model's weights (the live tensors keep training)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class BestTracker:
    """Keeps the validation-best evaluation and counts evaluations without improvement."""

    def __init__(self, baselines: Mapping[str, float]) -> None:
        self.baselines = dict(baselines)
        self.best: BestRecord | None = None
        self.evals_since_best = 0
        self.last_step = -1

    def score(self, evaluation: Evaluation) -> float:
        return selection_score(evaluation.losses, self.baselines)

    def candidate(self, step: int, evaluation: Evaluation, model: torch.nn.Module) -> BestRecord:
        return BestRecord(step, self.score(evaluation), evaluation, copy_weights(model))

    def is_better(self, score: float) -> bool:
        return self.best is None or score < self.best.score

    def update(self, step: int, evaluation: Evaluation, model: torch.nn.Module) -> bool:
        """Commit an evaluation on the grid; True when it is the new best. Idempotent per step."""
        if step == self.last_step:
            return False
        self.last_step = step
        score = self.score(evaluation)
        if self.is_better(score):
            self.best = BestRecord(step, score, evaluation, copy_weights(model))
            self.evals_since_best = 0
            return True
        self.evals_since_best += 1
        return False

    def best_with(self, step: int, evaluation: Evaluation, model: torch.nn.Module) -> BestRecord:
        """The best record if ``evaluation`` (not committed) were considered as well."""
        if self.best is not None and self.best.step == step:
            return self.best
        if self.is_better(self.score(evaluation)):
            return self.candidate(step, evaluation, model)
        assert self.best is not None
        return self.best

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": None if self.best is None else self.best.state_dict(),
            "evals_since_best": self.evals_since_best,
            "last_step": self.last_step,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = None if state["best"] is None else BestRecord.from_state_dict(state["best"])
        self.evals_since_best = int(state["evals_since_best"])
        self.last_step = int(state["last_step"])


def save_best(
    record: BestRecord,
    path: str | os.PathLike[str],
    *,
    config: Mapping[str, Any],
    model_config: Mapping[str, Any],
    feature_names: Sequence[str],
) -> Path:
    """Write ``best.pt`` atomically: weights and what is needed to rebuild the model, no code."""
    document = {
        "format_version": BEST_FORMAT_VERSION,
        "model": record.weights,
        "config": dict(config),
        "model_config": dict(model_config),
        "feature_names": list(feature_names),
        "step": record.step,
        "score": record.score,
        "criterion": CRITERION,
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
