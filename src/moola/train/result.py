"""A finished run's result, the verdict of each head, and the ``metrics.json`` layout."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moola.train.best import CRITERION, BestRecord
from moola.train.config import TrainConfig
from moola.train.history import History
from moola.train.metrics import Evaluation, Verdict, verdict


@dataclass
class TrainResult:
    """What :meth:`moola.train.Trainer.fit` returns: enough to judge every head and to write
    ``metrics.json`` without the trainer."""

    config: TrainConfig
    history: History
    initial: Evaluation
    final: Evaluation
    baselines: dict[str, float]
    best: BestRecord | None = None
    stopped_early: bool = False
    feature_names: tuple[str, ...] = ()
    #: Per task, the natural units of its losses (:meth:`moola.tasks.TaskSet.units`).
    units: dict[str, str] = field(default_factory=dict)
    split: dict[str, Any] | None = None  # how train/validation were split (SplitInfo)

    def judge(self, name: str, evaluation: Evaluation) -> dict[str, Any]:
        """The verdict of one head on one evaluation (final or best weights)."""
        metrics = evaluation.metrics.get(name, {})
        result = verdict(
            name,
            initial=self.initial.losses[name],
            final=evaluation.losses[name],
            baseline=self.baselines[name],
            metrics=metrics,
        )
        return {"learned": result.learned, "why": result.why, "metrics": metrics}

    @property
    def verdict(self) -> dict[str, Verdict]:
        """Per head, whether the final weights learned (the one rule: ``moola.train.verdict``)."""
        return {name: Verdict(t["learned"], t["why"]) for name, t in self.task_summary().items()}

    @property
    def learned(self) -> bool:
        """True when every head learned (final weights)."""
        return all(v.learned for v in self.verdict.values())

    def task_summary(self) -> dict[str, dict[str, Any]]:
        """Per head: losses, baseline and the verdict of the final weights."""
        summary = {}
        for name in self.history.task_names:
            init, fin, base = (
                self.initial.losses[name],
                self.final.losses[name],
                self.baselines[name],
            )
            summary[name] = {
                "initial": init,
                "final": fin,
                "baseline": base,
                "drop_pct": 100.0 * (init - fin) / init if init else 0.0,
                **self.judge(name, self.final),
            }
        return summary

    def best_summary(self) -> dict[str, Any] | None:
        """The validation-best step, its score and the verdict of its weights per head."""
        if self.best is None:
            return None
        tasks = {
            name: {
                "loss": self.best.evaluation.losses[name],
                **self.judge(name, self.best.evaluation),
            }
            for name in self.history.task_names
        }
        return {
            "step": self.best.step,
            "criterion": CRITERION,
            "score": self.best.score,
            "tasks": tasks,
        }

    def to_metrics(self) -> dict[str, Any]:
        """The ``metrics.json`` document."""
        return {
            "config": self.config.to_dict(),
            "feature_names": list(self.feature_names),
            "history": self.history.to_dict(),
            "weights": self.history.weights,
            "validation": self.history.validation,
            "telemetry": self.history.telemetry,
            "tasks": self.task_summary(),
            "best": self.best_summary(),
            "stopped_early": self.stopped_early,
            "split": self.split,
            "units": dict(self.units),
        }
