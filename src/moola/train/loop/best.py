"""The validation-best step: one selection criterion and its tracker (``best.pt`` itself is
written by :mod:`moola.rundir.best`).

**Criterion.** The score of an evaluation is the mean over heads of
``validation loss / prior`` (lower is better; 1.0 = no better than the prior-only
predictor). It is computed at every ``eval_every`` step and at the end of the run; the step
with the lowest score is the *best step*. Ties keep the earlier step.

**Resume.** The tracker's state (best step, score, evaluation, weights and the count of
evaluations since the last improvement) lives in the resumable checkpoint. Only evaluations
on the ``eval_every`` grid are committed to it, because an uninterrupted run evaluates there
too; the end-of-run evaluation of a shorter run is only a *candidate* for that run's
``best.pt``. A resumed run therefore tracks exactly what an uninterrupted run tracks.

"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from moola.models.multitask import copy_weights
from moola.verdict import Evaluation


def selection_score(losses: Mapping[str, float], priors: Mapping[str, float]) -> float:
    """The criterion (:data:`moola.rundir.best.CRITERION`): mean over heads of validation
    loss ÷ the prior's loss."""
    ratios = [losses[name] / priors[name] for name in priors]
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
        evaluation = Evaluation.from_dict(state["evaluation"])
        return cls(int(state["step"]), float(state["score"]), evaluation, dict(state["weights"]))


class BestTracker:
    """Keeps the validation-best evaluation and counts evaluations without improvement."""

    def __init__(self, prior_losses: Mapping[str, float]) -> None:
        self.prior_losses = dict(prior_losses)
        self.best: BestRecord | None = None
        self.evals_since_best = 0
        self.last_step = -1

    def score(self, evaluation: Evaluation) -> float:
        return selection_score(evaluation.losses, self.prior_losses)

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
