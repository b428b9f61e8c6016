"""One entry point for a run: claim the folder, choose folds or one split, train, write.

``moola train``, every ``moola sweep`` run and the Python API (``moola.train(...)``) all call
:func:`run_training`, so the choice between walk-forward folds and one split, the resume
rules and the order the files are written in (``metrics.json`` last, so that its presence
means the run finished) live here once. What a caller shows while it runs (a header, a
progress bar, a table per fold) comes through a :class:`Reporter`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from moola.collective import current
from moola.data import OHLCWindows
from moola.data.corpus import Corpus
from moola.errors import ConfigError
from moola.rundir.checkpoint import load_checkpoint
from moola.rundir.claim import claim_out_dir, previous_run_notice
from moola.rundir.guard import frozen_differences
from moola.rundir.layout import CHECKPOINT_NAME
from moola.train.config import TrainConfig, recorded_config
from moola.train.folds import FoldScores, FoldsResult, run_folds
from moola.train.init import init_changed
from moola.train.loop.result import TrainResult, folds_metrics
from moola.train.loop.trainer import Trainer
from moola.train.objectives import Objective
from moola.train.outputs import Written, write_folds_outputs, write_split_outputs

#: ``resume=AUTO``: continue the checkpoint in the run's folder when the resume guard would
#: accept it for this config (a killed sweep run), else start afresh.
AUTO = "auto"


class Reporter(Protocol):
    """What a caller shows while a run goes (:class:`Quiet` shows nothing)."""

    def started(self, plan: Plan) -> None:
        """The run is built (or, for folds, about to start) and its folder claimed."""

    def progress(self, step: int, losses: Mapping[str, float]) -> None:
        """Every log interval: the step reached and the interval's mean natural-units losses."""

    def fold(self, scores: FoldScores) -> None:
        """A walk-forward fold was trained and judged."""


class Quiet:
    """A :class:`Reporter` that shows nothing (the API's and a sweep run's)."""

    def started(self, plan: Plan) -> None:
        pass

    def progress(self, step: int, losses: Mapping[str, float]) -> None:
        pass

    def fold(self, scores: FoldScores) -> None:
        pass


@dataclass
class Plan:
    """What is about to run, for the reporter's header."""

    config: TrainConfig
    trainer: Trainer | None  # None for walk-forward folds (each fold builds its own)
    resumed_at: int | None = None  # the checkpoint step a resumed run continues from
    notice: str | None = None  # what a new run in the folder replaces


@dataclass
class RunOutcome:
    """What a finished run produced: its ``metrics.json`` document, its result and files."""

    config: TrainConfig
    metrics: dict[str, Any]
    result: TrainResult | None = None  # one split
    folds: FoldsResult | None = None  # walk-forward folds
    written: Written = field(default_factory=Written)
    resumed_at: int | None = None
    trainer: Trainer | None = None


def run_training(
    config: TrainConfig | Mapping[str, Any],
    *,
    windows: OHLCWindows | Corpus | None = None,
    resume: str | Path | None = None,
    out_dir: str | Path | None = None,
    reporter: Reporter | None = None,
    claim: bool = True,
    lock_name: str = "moola train",
    objective: Objective | None = None,
) -> RunOutcome:
    """Train one run to completion and write its folder.

    ``config``: a ``TrainConfig``, or a dict of its fields; with ``resume``, the dict holds
    only the settings to change (the rest are the checkpoint's). ``config.folds`` > 0 trains
    that many walk-forward folds (no resume: every fold trains afresh); otherwise one split.
    ``resume``: a checkpoint or run folder to continue (only the settings the resume guard
    allows may differ), or :data:`AUTO`. ``out_dir`` replaces the config's folder as the one
    written to (a sweep's staging folder); with neither, nothing is written. ``claim`` holds
    the folder's lock for the run (``lock_name`` says who holds it); a caller that holds it
    already passes False. ``objective``: what the run learns (default: the config's,
    JadeCompact's four supervised heads); walk-forward folds are the supervised objective's.
    """
    reporter = reporter if reporter is not None else Quiet()
    values = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    if values.get("folds") and resume not in (None, AUTO):
        raise ConfigError("--folds trains every fold afresh; drop --resume (or --folds)")
    if values.get("folds") and values.get("checkpoint_every"):
        raise ConfigError(
            "checkpoint_every does not apply to folds (every fold trains afresh and writes no "
            "checkpoint); set it to 0"
        )
    if values.get("folds") and objective is not None:
        raise ConfigError("walk-forward folds train JadeCompact's supervised heads; drop folds")
    trainer: Trainer | None = None
    if resume not in (None, AUTO):
        assert resume is not None
        trainer = Trainer.resume(resume, windows=windows, objective=objective, **values)
        settings = trainer.config
    else:
        settings = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(values)
    target = Path(out_dir) if out_dir is not None else _path(settings.out_dir)
    writes = current().rank == 0  # under torchrun only rank 0 holds and writes the folder
    held = (
        claim_out_dir(target, lock_name)
        if claim and writes and target is not None
        else nullcontext()
    )
    with held:  # before training: a bad or busy folder fails now
        if settings.folds:
            return _run_folds(settings, target, windows, reporter)
        if trainer is None:
            trainer = _trainer(settings, target, windows, objective, auto=resume == AUTO)
        return _run_split(trainer, target if writes else None, resume, reporter)


def _run_split(
    trainer: Trainer, target: Path | None, resume: str | Path | None, reporter: Reporter
) -> RunOutcome:
    resumed_at = trainer.step or None
    continues_here = (resume == AUTO and resumed_at is not None) or _is_folder_of(resume, target)
    notice = None if continues_here else previous_run_notice(target)
    reporter.started(Plan(trainer.config, trainer, resumed_at, notice))
    started = time.perf_counter()
    result = trainer.fit(reporter.progress, checkpoint_dir=target)
    timing: dict[str, Any] = {"fit_seconds": time.perf_counter() - started}
    if trainer.auto_threads is not None:  # the count the load left at the end (moola.threads)
        timing["threads_at_end"] = trainer.auto_threads.threads
    metrics = result.to_metrics(timing)
    written = Written()
    if target is not None:

        def save(folder: Path) -> Path:  # the objective's own files too, before metrics.json
            path = trainer.save(folder)
            trainer.objective.write_outputs(
                trainer.model, trainer.data, trainer.config, trainer.step, folder
            )
            return path

        written = write_split_outputs(target, metrics, save)
    return RunOutcome(
        trainer.config,
        metrics,
        result=result,
        written=written,
        resumed_at=resumed_at,
        trainer=trainer,
    )


def _run_folds(
    config: TrainConfig,
    target: Path | None,
    windows: OHLCWindows | Corpus | None,
    reporter: Reporter,
) -> RunOutcome:
    config = TrainConfig.from_dict({**config.to_dict(), "progress": False})
    reporter.started(Plan(config, None, None, previous_run_notice(target)))
    started = time.perf_counter()
    folds = run_folds(config, windows=windows, on_fold=reporter.fold)
    metrics = folds_metrics(config, folds.doc, fit_seconds=time.perf_counter() - started)
    written = write_folds_outputs(target, folds.doc, metrics) if target is not None else Written()
    return RunOutcome(config, metrics, folds=folds, written=written)


def _trainer(
    config: TrainConfig,
    target: Path | None,
    windows: OHLCWindows | Corpus | None,
    objective: Objective | None,
    *,
    auto: bool,
) -> Trainer:
    """A fresh trainer; with ``auto``, the checkpoint in ``target`` continued instead when
    the resume guard's own rules accept it for ``config`` (a killed sweep run: a shorter run
    may be extended, which is bit-identical)."""
    checkpoint = None if target is None else target / CHECKPOINT_NAME
    if auto and checkpoint is not None and checkpoint.is_file() and _resumable(checkpoint, config):
        return Trainer.resume(checkpoint, windows=windows, objective=objective, **config.to_dict())
    return Trainer(config, windows=windows, objective=objective)


def _resumable(checkpoint: Path, requested: TrainConfig) -> bool:
    """Whether ``moola train --resume`` would accept this checkpoint for ``requested``."""
    state = load_checkpoint(checkpoint)
    recorded = recorded_config(state["config"])
    same = not frozen_differences(recorded, requested.to_dict())
    same = same and init_changed(state.get("init"), requested.init) is None
    return same and int(state["step"]) <= requested.steps


def _is_folder_of(resume: str | Path | None, target: Path | None) -> bool:
    """Whether ``resume`` (a run folder or its checkpoint) is the folder written to."""
    if resume in (None, AUTO) or target is None:
        return False
    path = Path(resume).resolve()
    return target.resolve() in {path, path.parent}


def _path(value: str | None) -> Path | None:
    return None if value is None else Path(value)
