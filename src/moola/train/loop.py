"""The training loop: data, model, optimizer and balancer wired together, deterministically.

Per-task losses are summed on the device and read back only every ``log_every`` steps.
Non-finite values are tracked on the device too (the first bad step per task), so a
divergence is reported with the task and the step without a per-step host sync.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moola.balancing import Balancer, make_balancer
from moola.data import OHLCWindows, WindowDataset, load_windows
from moola.data.dataset import split_windows
from moola.data.synthetic import SyntheticConfig
from moola.errors import ConfigError, MoolaError, TrainingDivergedError
from moola.models import JadeCompact, JadeConfig
from moola.seeding import rng_state, seed_everything, set_rng_state
from moola.tasks import TaskSet, make_tasks
from moola.threads import AutoThreads
from moola.train.best import BEST_NAME, CRITERION, BestRecord, BestTracker, save_best
from moola.train.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointError,
    check_feature_names,
    check_model_shapes,
    load_checkpoint,
    save_checkpoint,
)
from moola.train.config import TrainConfig
from moola.train.guard import check_resume, check_same_data, data_fingerprint
from moola.train.metrics import Evaluation, Verdict, evaluate, verdict
from moola.train.step import EagerStep, GraphedStep, make_optimizer

#: Called at every log interval with (step, mean natural-units losses by task).
ProgressCallback = Callable[[int, dict[str, float]], None]

REMEDY = (
    "lower the learning rate (--lr), keep gradient clipping on (--grad-clip), check the data "
    "for extreme values, or train the countdown on normalised targets (--countdown-units normalized)"
)


@dataclass
class History:
    """Training losses (natural units) per logged step, plus the balancer's mean weights."""

    task_names: tuple[str, ...]
    step: list[int] = field(default_factory=list)
    losses: dict[str, list[float]] = field(default_factory=dict)
    weights: dict[str, list[float]] = field(default_factory=dict)
    validation: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in self.task_names:
            self.losses.setdefault(name, [])
            self.weights.setdefault(name, [])

    def append(self, step: int, losses: list[float], weights: list[float]) -> None:
        self.step.append(step)
        for name, loss, weight in zip(self.task_names, losses, weights):
            self.losses[name].append(loss)
            self.weights[name].append(weight)

    def pop(self) -> None:
        self.step.pop()
        for name in self.task_names:
            self.losses[name].pop()
            self.weights[name].pop()

    def to_dict(self) -> dict[str, Any]:
        return {"step": list(self.step), **{k: list(v) for k, v in self.losses.items()}}

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": list(self.step),
            "losses": {k: list(v) for k, v in self.losses.items()},
            "weights": {k: list(v) for k, v in self.weights.items()},
            "validation": list(self.validation),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = list(state["step"])
        self.losses = {k: list(v) for k, v in state["losses"].items()}
        self.weights = {k: list(v) for k, v in state["weights"].items()}
        self.validation = list(state["validation"])


@dataclass
class TrainResult:
    config: TrainConfig
    history: History
    initial: Evaluation
    final: Evaluation
    baselines: dict[str, float]
    best: BestRecord | None = None
    stopped_early: bool = False
    feature_names: tuple[str, ...] = ()
    #: Windows in the training and validation splits, and those the purged split dropped.
    split: dict[str, int] = field(default_factory=dict)

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
            "tasks": self.task_summary(),
            "best": self.best_summary(),
            "stopped_early": self.stopped_early,
            "split": dict(self.split),
            "units": {
                "type": "nats",
                "pointers": "window fraction (Huber δ=0.08)",
                "binary": "nats",
                "countdown": "bars (Huber δ=1)",
            },
        }


def load_data(config: TrainConfig) -> OHLCWindows:
    """The run's windows; the synthetic market is fixed by ``data_seed`` while ``seed`` varies."""
    market = SyntheticConfig(
        n_windows=config.n_windows, window=config.window, seed=config.data_seed
    )
    return load_windows(config.data, window=config.window, synthetic=market)


class Trainer:
    """Builds everything from a :class:`TrainConfig` and trains it step by step."""

    def __init__(self, config: TrainConfig, *, windows: OHLCWindows | None = None) -> None:
        self.config = config
        seed_everything(config.seed, threads=config.threads)
        #: None: --threads fixes the count; else it follows the machine's load (moola.threads)
        self.auto_threads = AutoThreads() if config.threads is None else None
        self.device = config.resolve_device()
        if config.graph and self.device.type != "cuda":
            raise ConfigError("--graph needs a CUDA device; use --device cuda or drop --graph")

        windows = windows if windows is not None else load_data(config)
        windows.validate()
        dataset = WindowDataset(windows, feature_set=config.features)
        self.feature_names: tuple[str, ...] = dataset.feature_names
        if not bool(torch.isfinite(dataset.x).all()):
            raise ConfigError("the features built from this data contain NaN or inf")
        train_idx, val_idx = split_windows(
            windows, val_fraction=config.val_fraction, seed=config.seed
        )
        self.window = dataset.window
        self.split = {
            "train": len(train_idx),
            "val": len(val_idx),
            "purged": len(windows) - len(train_idx) - len(val_idx),
        }
        self.fingerprint = data_fingerprint(dataset)
        self.tasks: TaskSet = make_tasks(
            countdown_units=config.countdown_units, priorities=config.priorities
        )

        def to_device(subset: WindowDataset) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            targets = self.tasks.build_targets(
                subset.label, subset.expansion_start, subset.expansion_end, self.window
            )
            return subset.x.to(self.device), {k: v.to(self.device) for k, v in targets.items()}

        self.x_train, self.y_train = to_device(dataset.subset(train_idx))
        self.x_val, self.y_val = to_device(dataset.subset(val_idx))
        # Constants are fitted on the training split only and evaluated on validation.
        self.baselines = self.tasks.constant_baselines(self.y_train, self.y_val)
        self.best_tracker = BestTracker(self.baselines)
        self.best_record: BestRecord | None = None  # what save() writes as best.pt
        self.batch_size = min(config.batch_size, self.x_train.shape[0])

        self.model_config = JadeConfig(**{**config.model, "n_features": dataset.n_features})
        self.model = JadeCompact(self.model_config)
        self.model.to(self.device)
        self.model.check_finite = False  # the whole dataset was checked above
        self.balancer: Balancer = make_balancer(
            config.balancer, self.tasks, device=self.device, **config.balancer_options
        )
        params = list(self.model.parameters()) + self.balancer.parameters()
        self.optimizer = make_optimizer(
            params,
            lr=config.lr,
            weight_decay=config.weight_decay,
            device=self.device,
            graph=config.graph,
        )
        step_cls = GraphedStep if config.graph else EagerStep
        self.train_step = step_cls(
            self.model,
            self.tasks,
            self.balancer,
            self.optimizer,
            grad_clip=config.grad_clip,
            bf16=config.bf16,
        )

        n_tasks = len(self.tasks)
        self.step = 0
        self.history = History(self.tasks.names)
        self.loss_sum = torch.zeros(n_tasks, device=self.device)
        self.weight_sum = torch.zeros(n_tasks, device=self.device)
        self.steps_in_sum = 0
        self.partial_row_logged = False
        # Whether history.validation ends with the end-of-run evaluation (which a resumed,
        # longer run re-does) rather than a periodic one (which it keeps).
        self.final_validation_logged = False
        # First step at which each task's loss/weight, and the gradient, went non-finite (-1: never).
        self.first_bad_loss = torch.full((n_tasks,), -1, dtype=torch.long, device=self.device)
        self.first_bad_weight = torch.full((n_tasks,), -1, dtype=torch.long, device=self.device)
        self.first_bad_grad = torch.full((), -1, dtype=torch.long, device=self.device)
        self.initial: Evaluation | None = None
        # The run's own RNG stream (dropout draws from torch's global generator): restored at
        # the start of fit() and saved at its end, so trainers can interleave and resume.
        self.rng = rng_state()

    # ------------------------------------------------------------------ data
    def batch_indices(self, step: int) -> torch.Tensor:
        """Indices of the batch at ``step``: a seeded permutation per epoch, last partial batch dropped."""
        n = self.x_train.shape[0]
        per_epoch = n // self.batch_size
        epoch, position = divmod(step, per_epoch)
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=generator)
        return order[position * self.batch_size : (position + 1) * self.batch_size].to(self.device)

    # ------------------------------------------------------------------ loop
    def evaluate(self) -> Evaluation:
        return evaluate(self.model, self.x_val, self.y_val, self.tasks, self.y_train)

    def fit(self, progress: ProgressCallback | None = None) -> TrainResult:
        """Train until ``config.steps`` (the total, also when resuming)."""
        cfg = self.config
        set_rng_state(self.rng)
        if self.initial is None:
            self.initial = self.evaluate()
        self.model.train()
        natural = self.tasks.to_natural(torch.ones(len(self.tasks), device=self.device))
        stopped_early = self.patience_exhausted()
        if stopped_early and self.steps_in_sum:
            self.flush_log(reset=False)  # a resumed early-stopped run: re-log the open interval
        while self.step < cfg.steps and not stopped_early:
            idx = self.batch_indices(self.step)
            x = self.x_train.index_select(0, idx)
            targets = {k: v.index_select(0, idx) for k, v in self.y_train.items()}
            out = self.train_step(x, targets, self.step)
            self.track(out.losses * natural, out.weights, out.grad_norm)
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
                self.rng = rng_state()
                self.save()
        self.rng = rng_state()
        final = self.evaluate()
        self.history.validation.append({"step": self.step, **final.losses})
        if cfg.eval_every and self.step % cfg.eval_every == 0:
            # On the grid an uninterrupted run evaluates here too: commit it (idempotent).
            self.best_tracker.update(self.step, final, self.model)
        self.best_record = self.best_tracker.best_with(self.step, final, self.model)
        self.final_validation_logged = True
        return TrainResult(
            cfg,
            self.history,
            self.initial,
            final,
            self.baselines,
            best=self.best_record,
            stopped_early=stopped_early,
            feature_names=self.feature_names,
            split=dict(self.split),
        )

    def patience_exhausted(self) -> bool:
        """Early stopping: ``patience`` evaluations in a row without a new best (0: never)."""
        patience = self.config.patience
        return bool(patience) and self.best_tracker.evals_since_best >= patience

    def track(self, losses: torch.Tensor, weights: torch.Tensor, grad_norm: torch.Tensor) -> None:
        """Device-side accumulation and non-finite bookkeeping (no host sync)."""
        self.loss_sum += losses
        self.weight_sum += weights
        self.steps_in_sum += 1
        self.first_bad_loss = _first_bad(self.first_bad_loss, losses, self.step)
        self.first_bad_weight = _first_bad(self.first_bad_weight, weights, self.step)
        self.first_bad_grad = _first_bad(self.first_bad_grad, grad_norm, self.step)

    def flush_log(self, *, reset: bool = True) -> dict[str, float]:
        """Read the accumulated losses back (the one host sync per log interval)."""
        self.raise_if_diverged()
        losses = (self.loss_sum / self.steps_in_sum).tolist()
        weights = (self.weight_sum / self.steps_in_sum).tolist()
        self.history.append(self.step, losses, weights)
        self.partial_row_logged = not reset
        if reset:
            self.loss_sum.zero_()
            self.weight_sum.zero_()
            self.steps_in_sum = 0
        return dict(zip(self.tasks.names, losses))

    def raise_if_diverged(self) -> None:
        """Name the earliest non-finite value: a task's loss, then a balancer weight, then the gradient."""
        for what, first_bad in (
            ("loss", self.first_bad_loss),
            ("balancer weight", self.first_bad_weight),
        ):
            steps = first_bad.tolist()
            bad = [s for s in steps if s >= 0]
            if bad:
                step = min(bad)
                names = ", ".join(repr(n) for n, s in zip(self.tasks.names, steps) if s == step)
                raise TrainingDivergedError(
                    f"non-finite {what} for task {names} at step {step + 1}; training stopped "
                    f"and no checkpoint was written for it. Remedy: {REMEDY}"
                )
        bad_grad = int(self.first_bad_grad)
        if bad_grad >= 0:
            raise TrainingDivergedError(
                f"non-finite gradient at step {bad_grad + 1} (all task losses finite); "
                f"training stopped and no checkpoint was written for it. Remedy: {REMEDY}"
            )

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "balancer": self.balancer.state_dict(),
            "rng": self.rng,
            "feature_names": list(self.feature_names),
            "fingerprint": self.fingerprint,
            "history": self.history.state_dict(),
            "initial": None if self.initial is None else self.initial.to_dict(),
            "best_tracker": self.best_tracker.state_dict(),
            "accumulators": {
                "loss_sum": self.loss_sum.cpu(),
                "weight_sum": self.weight_sum.cpu(),
                "steps_in_sum": self.steps_in_sum,
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
            self.initial = Evaluation(state["initial"]["losses"], state["initial"]["metrics"])
        acc = state["accumulators"]
        self.loss_sum.copy_(acc["loss_sum"])
        self.weight_sum.copy_(acc["weight_sum"])
        self.steps_in_sum = int(acc["steps_in_sum"])
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

    def save(self, path: str | Path | None = None) -> Path:
        if path is None:
            if self.config.out_dir is None:
                raise ConfigError("no out_dir configured to save the checkpoint in")
            path = Path(self.config.out_dir) / CHECKPOINT_NAME
        path = save_checkpoint(self.state_dict(), path)
        self.save_best(Path(path).parent / BEST_NAME)
        return path

    def save_best(self, path: str | Path) -> Path | None:
        """Write ``best.pt`` (weights only) when a best step is known; None otherwise."""
        if self.best_record is None:
            return None
        return save_best(
            self.best_record,
            path,
            config=self.config.to_dict(),
            model_config=asdict(self.model_config),
            feature_names=self.feature_names,
        )

    @classmethod
    def resume(cls, path: str | Path, **overrides: Any) -> Trainer:
        """Rebuild a run from its checkpoint; ``overrides`` may only change the settings in
        :data:`moola.train.guard.RESUMABLE_SETTINGS` (``steps`` and the like)."""
        state = load_checkpoint(path)
        try:
            saved = TrainConfig.from_dict(state["config"])
        except MoolaError as exc:
            raise CheckpointError(f"checkpoint {path} has a bad config: {exc}") from None
        config = TrainConfig.from_dict({**saved.to_dict(), **overrides})
        check_resume(saved.to_dict(), config.to_dict(), state["step"], path)
        trainer = cls(config)
        check_feature_names(state["feature_names"], trainer.feature_names, path)
        check_same_data(state["fingerprint"], trainer.fingerprint, path, saved.data)
        check_model_shapes(state["model"], trainer.model, path)
        try:
            trainer.load_state_dict(state)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
            first_line = (str(exc).splitlines() or [""])[0][:160]
            raise CheckpointError(
                f"checkpoint {path} does not fit this run ({type(exc).__name__}: {first_line})"
            ) from None
        return trainer


def _first_bad(first_bad: torch.Tensor, values: torch.Tensor, step: int) -> torch.Tensor:
    """Record ``step`` where ``values`` first turns non-finite, on the device (no host sync)."""
    return torch.where(~torch.isfinite(values) & (first_bad < 0), step, first_bad)


def summarise_losses(values: list[float], fraction: float = 0.1) -> tuple[float, float]:
    """Mean of the first and the last ``fraction`` of a loss curve (robust to noisy steps)."""
    n = max(1, math.ceil(len(values) * fraction))
    return float(np.mean(values[:n])), float(np.mean(values[-n:]))
