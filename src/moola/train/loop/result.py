"""A finished run's result, the verdict of each head (through :func:`moola.verdict.judge_head`)
and the ``metrics.json`` layout, for one split and for walk-forward folds, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from moola.rundir.best import CRITERION
from moola.train.config import TrainConfig
from moola.train.loop.best import BestRecord
from moola.train.loop.history import History
from moola.verdict import Evaluation, Verdict, judge_head
from moola.verdict.summary import summary_line


@dataclass
class TrainResult:
    """What :meth:`moola.train.Trainer.fit` returns: enough to judge every head and to write
    ``metrics.json`` without the trainer."""

    config: TrainConfig
    history: History
    initial: Evaluation
    final: Evaluation
    #: Per head, its prior's validation loss (``metrics.json``: ``baseline``).
    prior_losses: dict[str, float]
    best: BestRecord | None = None
    stopped_early: bool = False
    feature_names: tuple[str, ...] = ()
    #: Per task, the natural units of its losses (:meth:`moola.tasks.TaskSet.units`).
    units: dict[str, str] = field(default_factory=dict)
    split: dict[str, Any] | None = None  # how train/validation were split (SplitInfo)
    #: What the run noticed (``{"kind", "text"}``): small data, a clamped batch, an overfit.
    warnings: list[dict[str, str]] = field(default_factory=list)
    #: The batch size the steps used (the config's, or the training windows when fewer).
    batch_size_used: int | None = None
    #: What ``--init`` loaded, and the recipe of those weights (None: a random start).
    init: dict[str, Any] | None = None

    def judge(self, name: str, evaluation: Evaluation) -> dict[str, Any]:
        """The verdict record of one head on one evaluation (final or best weights)."""
        return judge_head(
            name,
            initial=self.initial.losses[name],
            final=evaluation.losses[name],
            prior=self.prior_losses[name],
            metrics=evaluation.metrics.get(name, {}),
        )

    @property
    def verdict(self) -> dict[str, Verdict]:
        """Per head, whether the final weights learned (the one rule: ``moola.verdict``)."""
        return {name: Verdict(t["learned"], t["why"]) for name, t in self.task_summary().items()}

    @property
    def learned(self) -> bool:
        """True when every head learned (final weights)."""
        return all(v.learned for v in self.verdict.values())

    def task_summary(self) -> dict[str, dict[str, Any]]:
        """Per head: losses, the prior's loss and the verdict of the final weights."""
        summary = {}
        for name in self.history.task_names:
            record = self.judge(name, self.final)
            init, fin = record["initial"], record["final"]
            summary[name] = {
                "initial": init,
                "final": fin,
                "baseline": record["baseline"],
                "drop_pct": 100.0 * (init - fin) / init if init else 0.0,
                "learned": record["learned"],
                "why": record["why"],
                "metrics": record["metrics"],
            }
        return summary

    def best_summary(self) -> dict[str, Any] | None:
        """The validation-best step, its score and the verdict of its weights per head."""
        if self.best is None:
            return None
        tasks = {}
        for name in self.history.task_names:
            record = self.judge(name, self.best.evaluation)
            tasks[name] = {
                "loss": self.best.evaluation.losses[name],
                "learned": record["learned"],
                "why": record["why"],
                "metrics": record["metrics"],
            }
        return {
            "step": self.best.step,
            "criterion": CRITERION,
            "score": self.best.score,
            "tasks": tasks,
        }

    def summary(self) -> str:
        """One line: heads learned (final and best weights), the windows, the intervals."""
        best = self.best_summary()
        split = self.split or {}
        return summary_line(
            self.task_summary(),
            n_train=split.get("n_train", "?"),
            n_held=int(split.get("n_val", 0)),
            best=None if best is None else best["tasks"],
        )

    def to_metrics(self, timing: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The ``metrics.json`` document of a run on one split: its config, history,
        verdicts (final and best weights), split, units, the summary line, the warnings and
        ``timing`` (when given)."""
        document = {
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
            "batch_size_used": self.batch_size_used,
            "summary": self.summary(),
            "warnings": [dict(w) for w in self.warnings],
        }
        if self.init is not None:
            document["init"] = dict(self.init)
        if timing is not None:
            document["timing"] = dict(timing)
        return document


def folds_metrics(
    config: TrainConfig, folds: Mapping[str, Any], *, fit_seconds: float
) -> dict[str, Any]:
    """The ``metrics.json`` of a walk-forward run: the pooled verdicts as its ``tasks``, so
    that ``moola league`` ranks fold runs like any other; ``folds`` is ``folds.json``."""
    return {
        "config": config.to_dict(),
        "tasks": folds["pooled"]["tasks"],
        "best": None,
        "folds": {k: folds[k] for k in ("folds", "embargo", "per_fold")},
        "n_test": folds["pooled"]["n_test"],
        "summary": folds.get("summary"),
        "warnings": list(folds.get("warnings", [])),
        "timing": {"fit_seconds": fit_seconds},
    }
