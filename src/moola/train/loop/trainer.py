"""The one training loop: a built :class:`~moola.train.setup.Run`, trained step by step,
deterministically, and its state for checkpoints and bit-exact resume.

:meth:`Trainer.fit` is the recipe: fixed batches, the train step, the loss meter, periodic
evaluation with best-weight tracking and early stopping, periodic checkpoints. What is
learned comes from the run's objective (:mod:`moola.train.objectives`): it turns each drawn
batch into inputs and targets and evaluates the held-out part; the loop itself knows no
task.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from moola.data import OHLCWindows
from moola.data.corpus import Corpus
from moola.errors import ConfigError, MoolaError
from moola.rundir.best import save_best
from moola.rundir.checkpoint import (
    CheckpointError,
    check_feature_names,
    check_model_shapes,
    load_checkpoint,
    save_checkpoint,
)
from moola.rundir.guard import DATA_FORMAT, ResumeMismatchError, check_resume, check_same_data
from moola.rundir.judging import Judging, priors_of, save_judging
from moola.rundir.layout import BEST_NAME, CHECKPOINT_NAME, JUDGING_NAME
from moola.seeding import rng_state, set_rng_state
from moola.threads import AutoThreads
from moola.train.config import TrainConfig, recorded_config
from moola.train.init import init_changed
from moola.train.loop.best import BestRecord, BestTracker, copy_weights
from moola.train.loop.history import History, LossMeter
from moola.train.loop.overfit import find_overfits, overfit_warning
from moola.train.loop.result import TrainResult
from moola.train.loop.telemetry import Telemetry
from moola.train.loop.tensorboard import TensorBoardLog
from moola.train.objectives import Objective
from moola.train.setup import Run, build_objective, build_run
from moola.verdict import Evaluation

#: Called at every log interval with (step, mean natural-units losses by task).
ProgressCallback = Callable[[int, dict[str, float]], None]


def epoch_order(n_train: int, seed: int, epoch: int) -> torch.Tensor:
    """The seeded permutation of the training rows in ``epoch``."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n_train, generator=generator)


def batch_indices(
    n_train: int, batch_size: int, seed: int, step: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Indices of the batch at ``step``: a seeded permutation per epoch, last partial batch
    dropped. A function of its arguments only, so a resumed run draws the same batches."""
    epoch, position = divmod(step, n_train // batch_size)
    order = epoch_order(n_train, seed, epoch)
    return order[position * batch_size : (position + 1) * batch_size].to(device)


def batch_warning(asked: int, used: int) -> dict[str, str]:
    """The ``warnings`` entry of a batch larger than the training set (clamped to it)."""
    return {
        "kind": "batch_size",
        "text": f"--batch-size {asked} is more than the {used} training windows: every step "
        f"uses all {used} (metrics.json: batch_size_used); pass --batch-size {used} or less "
        "to say so",
    }


class Trainer:
    """Trains a :class:`~moola.train.setup.Run` (built from ``config`` and ``objective``
    unless given). ``step`` counts the optimizer steps taken so far."""

    def __init__(
        self,
        config: TrainConfig,
        *,
        windows: OHLCWindows | Corpus | None = None,
        run: Run | None = None,
        objective: Objective | None = None,
        load_init: bool = True,
    ) -> None:
        if run is None:
            run = build_run(config, windows=windows, objective=objective, load_init=load_init)
        self.config = config = run.config
        self.run = run
        self.device = run.device
        self.objective = run.objective
        self.tasks = run.tasks
        self.data = run.data
        self.model = run.model
        self.balancer = run.balancer
        self.train_step = run.train_step
        self.optimizer = run.optimizer
        self.feature_names = run.data.feature_names
        #: What ``--init`` loaded (metrics.json ``init``; the resume guard checks its digest).
        self.init_record = run.init
        #: The other processes of a data-parallel run: each draws its shard of every batch.
        self.collective = run.collective
        #: None: --threads fixes the count; else it follows the machine's load (moola.threads)
        self.auto_threads = AutoThreads() if config.threads is None else None
        #: The untrained, seeded weights (``judging.pt``: the verdict's initial loss). With
        #: ``--init`` they are the random ones the pretrained weights replaced (loading draws
        #: nothing from the RNG); a resumed run rebuilds the same ones before its checkpoint.
        self.initial_weights = (
            run.untrained if run.untrained is not None else copy_weights(self.model)
        )
        #: What the run noticed before training (a small validation set, a clamped batch),
        #: as ``metrics.json`` ``warnings`` entries; the end adds an overfit.
        self.warnings: list[dict[str, str]] = list(run.data.warnings)
        self.batch_size = min(config.batch_size, len(run.data.train))
        if self.batch_size % self.collective.world:
            raise ConfigError(
                f"batch size {self.batch_size} does not split evenly over "
                f"{self.collective.world} processes; use a multiple of {self.collective.world}"
            )
        if self.batch_size < config.batch_size:
            self.warnings.append(batch_warning(config.batch_size, self.batch_size))
        self.best_tracker = BestTracker(run.data.prior_losses)
        self.best_record: BestRecord | None = None  # what save() writes as best.pt

        self.step = 0
        self._epoch: tuple[int, torch.Tensor] | None = None  # (epoch, its permutation)
        self.history = History(self.tasks.names)
        self.meter = LossMeter(self.tasks.names, self.device)
        self.partial_row_logged = False
        # Whether history.validation ends with the end-of-run evaluation (which a resumed,
        # longer run re-does) rather than a periodic one (which it keeps).
        self.final_validation_logged = False
        self.initial: Evaluation | None = None
        self.telemetry = Telemetry(self.model, self.tasks, config.telemetry_every)
        self.tensorboard = (
            TensorBoardLog(config.tensorboard_dir) if config.tensorboard_dir is not None else None
        )
        # The run's own RNG stream (dropout draws from torch's global generator): restored at
        # the start of fit() and saved at its end, so trainers can interleave and resume.
        self.rng = rng_state()

    # ------------------------------------------------------------------ loop
    def batch_indices(self, step: int) -> torch.Tensor:
        """This process's rows of the batch at ``step`` (:func:`batch_indices`, the epoch's
        permutation made once per epoch: a permutation of millions of rows costs seconds, a
        step milliseconds): all of it, or under ``torchrun`` its rank's contiguous shard (the
        shards together are the one-process batch)."""
        n, size = len(self.data.train), self.batch_size
        epoch, position = divmod(step, n // size)
        if self._epoch is None or self._epoch[0] != epoch:
            self._epoch = (epoch, epoch_order(n, self.config.seed, epoch))
        rows = self._epoch[1][position * size : (position + 1) * size].to(self.device)
        if not self.collective.active:
            return rows
        share = self.batch_size // self.collective.world
        return rows[self.collective.rank * share : (self.collective.rank + 1) * share]

    def evaluate(self) -> Evaluation:
        """The objective's evaluation of the current weights on the validation part."""
        return self.objective.evaluate(self.model, self.data)

    def evaluate_initial(self) -> Evaluation:
        """The untrained weights' evaluation (the verdict's initial losses). With ``--init``
        the loaded weights are evaluated too, into ``init["start"]``: what pretraining alone
        gave on this validation part, before any step on this run's data."""
        if self.init_record is None:
            return self.evaluate()
        self.init_record["start"] = dict(self.evaluate().losses)
        loaded = copy_weights(self.model)
        self.model.load_state_dict(self.initial_weights)
        try:
            return self.evaluate()
        finally:
            self.model.load_state_dict(loaded)

    def fit(
        self,
        progress: ProgressCallback | None = None,
        *,
        checkpoint_dir: str | Path | None = None,
    ) -> TrainResult:
        """Train until ``config.steps`` (the total, also when resuming).

        Periodic checkpoints (``checkpoint_every``) go to ``checkpoint_dir``, by default the
        config's ``out_dir``.
        """
        cfg = self.config
        folder = checkpoint_dir if checkpoint_dir is not None else cfg.out_dir
        if cfg.checkpoint_every and folder is None:
            raise ConfigError("checkpoint_every needs a folder: set out_dir (--out)")
        set_rng_state(self.rng)
        if self.initial is None:
            self.initial = self.evaluate_initial()
        self.model.train()
        natural = self.tasks.to_natural(torch.ones(len(self.tasks), device=self.device))
        stopped_early = self.patience_exhausted()
        if stopped_early and self.meter.steps_in_sum:
            self.flush_log(reset=False)  # a resumed early-stopped run: re-log the open interval
        while self.step < cfg.steps and not stopped_early:
            x, targets = self.objective.batch(
                self.data.train, self.batch_indices(self.step), self.step
            )
            if self.telemetry.due(self.step):
                self.telemetry.measure(self.step, x, targets)
            out = self.train_step(x, targets, self.step)
            self.telemetry.record(out.weights)
            self.meter.track(self.step, out.losses * natural, out.weights, out.grad_norm)
            self.step += 1
            on_boundary = self.step % cfg.log_every == 0
            if on_boundary or self.step == cfg.steps:
                # A partial interval at the end is logged but kept open, so a resumed run
                # continues it exactly as an uninterrupted run would.
                row = self.flush_log(reset=on_boundary)
                if self.auto_threads is not None:
                    self.auto_threads.update()
                if progress is not None:
                    progress(self.step, row)
            if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step < cfg.steps:
                evaluation = self.evaluate()
                self.history.validation.append({"step": self.step, **evaluation.losses})
                self.log_validation(evaluation)
                self.best_tracker.update(self.step, evaluation, self.model)
                self.best_record = self.best_tracker.best
                self.model.train()
                stopped_early = self.patience_exhausted()
                if stopped_early and not on_boundary:
                    row = self.flush_log(reset=False)  # log the open interval, as at the end
                    if progress is not None:
                        progress(self.step, row)
            if (
                cfg.checkpoint_every
                and self.step % cfg.checkpoint_every == 0
                and self.step < cfg.steps
            ):
                assert folder is not None
                self.rng = rng_state()
                if self.collective.rank == 0:  # every rank holds the same state
                    self.save(folder)
        self.rng = rng_state()
        final = self.evaluate()
        self.history.validation.append({"step": self.step, **final.losses})
        self.log_validation(final)
        if self.tensorboard is not None:
            self.tensorboard.close()
        if cfg.eval_every and self.step % cfg.eval_every == 0:
            # On the grid an uninterrupted run evaluates here too: commit it (idempotent).
            self.best_tracker.update(self.step, final, self.model)
        self.best_record = self.best_tracker.best_with(self.step, final, self.model)
        self.final_validation_logged = True
        overfit = overfit_warning(
            find_overfits(self.history), patience=cfg.patience, best_saved=cfg.eval_every > 0
        )
        return TrainResult(
            cfg,
            self.history,
            self.initial,
            final,
            self.data.prior_losses,
            best=self.best_record,
            stopped_early=stopped_early,
            feature_names=self.feature_names,
            units=self.tasks.units(),
            split=self.data.split.info.to_dict(),
            warnings=self.warnings + ([] if overfit is None else [overfit]),
            batch_size_used=self.batch_size,
            init=self.init_record,
        )

    def patience_exhausted(self) -> bool:
        """Early stopping: ``patience`` evaluations in a row without a new best (0: never)."""
        patience = self.config.patience
        return bool(patience) and self.best_tracker.evals_since_best >= patience

    def flush_log(self, *, reset: bool = True) -> dict[str, float]:
        """Append the open interval's means to the history; ``reset`` closes the interval."""
        losses, weights = self.meter.means()
        self.history.append(self.step, losses, weights)
        records = self.telemetry.read()
        self.history.telemetry.extend(records)
        self.partial_row_logged = not reset
        if reset:
            self.meter.reset()
        if self.tensorboard is not None:
            names = self.tasks.names
            self.tensorboard.train(self.step, dict(zip(names, losses)), dict(zip(names, weights)))
            self.tensorboard.telemetry(records)
        return dict(zip(self.tasks.names, losses))

    def log_validation(self, evaluation: Evaluation) -> None:
        if self.tensorboard is not None:
            self.tensorboard.validation(self.step, evaluation.losses, evaluation.metrics)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        self.history.telemetry.extend(self.telemetry.read())  # none is lost with the checkpoint
        return {
            "config": self.config.to_dict(),
            "objective": self.objective.name,
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "balancer": self.balancer.state_dict(),
            "rng": self.rng,
            "feature_names": list(self.feature_names),
            "fingerprint": self.data.fingerprint,
            "data_format": DATA_FORMAT,
            "init": self.init_record,
            "history": self.history.state_dict(),
            "initial": None if self.initial is None else self.initial.to_dict(),
            "best_tracker": self.best_tracker.state_dict(),
            "accumulators": {
                **self.meter.state_dict(),
                "partial_row_logged": self.partial_row_logged,
                "final_validation_logged": self.final_validation_logged,
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.balancer.load_state_dict(state["balancer"])
        self.history.load_state_dict(state["history"])
        if state["initial"] is not None:
            self.initial = Evaluation.from_dict(state["initial"])
        acc = state["accumulators"]
        self.meter.load_state_dict(acc)
        if acc["partial_row_logged"]:
            self.history.pop()  # the interval is still open: the resumed run completes it
        validation = self.history.validation
        on_grid = state["best_tracker"]["last_step"] == self.step  # committed: a grid point
        repeated = len(validation) >= 2 and validation[-2]["step"] == self.step  # early stop
        if acc["final_validation_logged"] and (repeated or not on_grid):
            # the end-of-run evaluation off the --eval-every grid; a longer run re-does it (on
            # the grid it is the point an uninterrupted run evaluates too, so it stays)
            self.history.validation.pop()
        self.final_validation_logged = False
        rng = state["rng"]
        _ = (rng["python"]["internal"], rng["numpy"]["keys"], rng["torch"])  # the parts fit() sets
        self.rng = rng
        self.best_tracker.load_state_dict(state["best_tracker"])
        self.best_record = self.best_tracker.best
        self.init_record = state.get("init")

    def save(self, folder: str | Path) -> Path:
        """Write ``checkpoint.pt`` (and ``best.pt`` when a best step is known, and
        ``judging.pt`` for an objective with priors) into ``folder``; returns the
        checkpoint's path."""
        folder = Path(folder)
        path = save_checkpoint(self.state_dict(), folder / CHECKPOINT_NAME)
        self.save_best(folder / BEST_NAME)
        self.save_judging(folder / JUDGING_NAME)
        return path

    def save_judging(self, path: str | Path) -> Path | None:
        """Write ``judging.pt``: what ``moola predict`` judges new windows with (the priors
        of the training split, the initial weights, the bars seen); None for an objective
        without per-head priors or without a record of its bars."""
        priors = priors_of(self.data.priors)
        if priors is None or self.data.seen_bars is None:
            return None
        judging = Judging(
            priors=priors,
            initial_weights=self.initial_weights,
            seen_bars=self.data.seen_bars,
            seed=self.config.seed,
            n_train=len(self.data.train),
            n_val=len(self.data.val),
        )
        return save_judging(path, judging)

    def save_best(self, path: str | Path) -> Path | None:
        """Write ``best.pt`` (weights only) when a best step is known; None otherwise."""
        record = self.best_record
        if record is None:
            return None
        return save_best(
            path,
            weights=record.weights,
            step=record.step,
            score=record.score,
            config=self.config.to_dict(),
            model_config=self.objective.model_settings(self.model),
            feature_names=self.feature_names,
            objective=self.objective.name,
        )

    @classmethod
    def resume(
        cls,
        path: str | Path,
        *,
        windows: OHLCWindows | Corpus | None = None,
        objective: Objective | None = None,
        **overrides: Any,
    ) -> Trainer:
        """Rebuild a run from its checkpoint; ``overrides`` may only change the settings in
        :data:`moola.rundir.guard.RESUMABLE_SETTINGS` (``steps`` and the like). ``windows``:
        the data already loaded (its fingerprint is checked all the same); ``objective``:
        the one the run was started with (default: the config's)."""
        state = load_checkpoint(path)
        try:
            saved = TrainConfig.from_dict(recorded_config(state["config"]))
        except MoolaError as exc:
            raise CheckpointError(f"checkpoint {path} has a bad config: {exc}") from None
        config = TrainConfig.from_dict({**saved.to_dict(), **overrides})
        check_resume(saved.to_dict(), config.to_dict(), state["step"], path)
        changed = init_changed(state.get("init"), config.init)
        if changed is not None:
            raise ResumeMismatchError(f"cannot resume {path}: {changed}")
        objective = objective if objective is not None else build_objective(config)
        saved_objective = state.get("objective", "supervised")  # older checkpoints: supervised
        if saved_objective != objective.name:
            raise CheckpointError(
                f"checkpoint {path} was trained on the {saved_objective!r} objective, not "
                f"{objective.name!r}; resume it with the objective it started with"
            )
        trainer = cls(config, windows=windows, objective=objective, load_init=False)
        check_feature_names(state["feature_names"], trainer.feature_names, path)
        legacy = int(state.get("data_format", 1)) < DATA_FORMAT
        actual = trainer.data.fingerprint
        legacy_fingerprint = getattr(trainer.objective, "legacy_fingerprint", None)
        if legacy and callable(legacy_fingerprint):  # recorded before the series store
            actual = legacy_fingerprint()
        check_same_data(state["fingerprint"], actual, path, saved.data, legacy=legacy)
        check_model_shapes(state["model"], trainer.model, path)
        try:
            trainer.load_state_dict(state)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
            first_line = (str(exc).splitlines() or [""])[0][:160]
            raise CheckpointError(
                f"checkpoint {path} does not fit this run ({type(exc).__name__}: {first_line})"
            ) from None
        return trainer
