"""``moola pretrain``: learn from bars nobody labelled, export the trunk and heads, print the verdict.

Runs through the one training loop (``run_training``) with a pretraining objective
(:mod:`moola.train.objectives.pretrain`): the same run folder, periodic atomic checkpoints,
exact resume after a kill, the same verdict per head. Under ``torchrun`` each process
trains on its shard of every batch (README "Pretraining").
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moola.cli.common import add_command, progress_bar, say

if TYPE_CHECKING:
    from moola.train.run import Plan, RunOutcome

#: The TrainConfig fields ``moola pretrain`` takes as flags (any other: ``--set``).
FLAGS = (
    "data",
    "window",
    "features",
    "val_fraction",
    "embargo",
    "steps",
    "batch_size",
    "lr",
    "weight_decay",
    "grad_clip",
    "seed",
    "balancer",
    "init",
    "device",
    "threads",
    "log_every",
    "eval_every",
    "checkpoint_every",
    "telemetry_every",
    "tensorboard_dir",
    "out_dir",
    "progress",
)

#: Pretraining's own defaults (every other field keeps moola train's).
DEFAULTS: dict[str, Any] = {
    "steps": 10000,
    "batch_size": 64,
    "val_fraction": 0.05,
    "log_every": 50,
    "eval_every": 1000,
    "checkpoint_every": 500,
    "telemetry_every": 0,
    "out_dir": "runs/pretrain",
}

HELPS = {
    "data": "a bar series: a CSV or parquet file with open/high/low/close columns (as moola "
    "label reads it) or synthetic:BARS[:seed] (moola's synthetic market); repeat for several "
    "series. Every window of every series is used (stride 1)",
    "val_fraction": "share of each series' bars (its last ones) held out for validation",
    "init": "start from weights (as moola train --init) instead of a random initialisation",
    "out_dir": "run folder: pretrained.pt (the export), metrics.json, checkpoint.pt, best.pt",
}

DEFAULT_OBJECTIVE = "masked"


def add_parser(sub: Any) -> None:
    from moola.train.fields import add_train_flags
    from moola.train.objective_names import PRETRAIN_OBJECTIVES

    parser = add_command(
        sub,
        "pretrain",
        run,
        help="pretrain JadeCompact's trunk on unlabelled bar series (moola train --init uses it)",
        description="Pretrain JadeCompact's trunk and heads on every window of bar series "
        "that nobody labelled, and export them as OUT/pretrained.pt for moola train --init. "
        "Flags are TrainConfig fields (--set for any other); under torchrun each process "
        "trains on its shard of every batch.",
    )
    parser.add_argument(
        "--objective",
        choices=PRETRAIN_OBJECTIVES,
        default=None,
        help="masked: reconstruct 15%% of the bars, hidden at random or in 10-bar patches; "
        "rule: the four heads on moola label's rule computed on every window (weak labels); "
        f"both: the two on one trunk, balanced (default: {DEFAULT_OBJECTIVE}; with --resume: "
        "the run's)",
    )
    add_train_flags(parser, only=FLAGS, defaults=DEFAULTS, helps=HELPS)
    parser.add_argument(
        "--resume", metavar="RUN", help="continue a pretraining run (its folder or checkpoint)"
    )
    parser.add_argument(
        "--export",
        metavar="FILE.pt",
        help="also write the pretrained weights to FILE.pt (atomically, after the run)",
    )


def run(args: argparse.Namespace) -> int:
    from moola.outfile import check_out_file
    from moola.train.distributed import process_group, rank
    from moola.train.fields import check_init_not_resumed, train_overrides
    from moola.train.run import Quiet, run_training

    overrides = train_overrides(args)
    check_init_not_resumed(overrides, resuming=args.resume is not None)
    if args.export is not None:
        check_out_file(args.export, ".pt", "--export")
    device = str(overrides.get("device", "auto"))
    with process_group(device) as here, contextlib.ExitStack() as stack:
        if here != device:
            overrides["device"] = here
        objective, settings = _objective(args, overrides)
        first = rank() == 0
        reporter = _Reporter(stack, objective) if first else Quiet()
        outcome = run_training(
            settings,
            resume=args.resume,
            objective=objective,
            reporter=reporter,
            lock_name="moola pretrain",
        )
    if not first:
        return 0
    _print(outcome)
    if args.export is not None and outcome.written.metrics is not None:
        _export(outcome.written.metrics.parent, Path(args.export))
    return 0


def _objective(args: argparse.Namespace, overrides: dict[str, Any]) -> tuple[Any, Any]:
    """The objective and the settings to run with: new, or the resumed run's."""
    from moola.errors import ConfigError
    from moola.rundir.checkpoint import CheckpointError, load_checkpoint
    from moola.train.config import TrainConfig
    from moola.train.objectives.pretrain import (
        PretrainObjective,
        is_pretrain_objective,
        objective_name,
    )

    if args.resume is None:
        values = {**DEFAULTS, **overrides}
        if "data" not in values:
            raise ConfigError(
                "no bar series: pass --data FILE.csv (or .parquet) or --data synthetic:BARS"
            )
        config = TrainConfig.from_dict(values)
        return PretrainObjective(args.objective or DEFAULT_OBJECTIVE, config), config
    state = load_checkpoint(args.resume)
    name = str(state.get("objective", "supervised"))
    if not is_pretrain_objective(name):
        raise CheckpointError(
            f"{args.resume} is a moola train run (objective {name!r}), not a pretraining run: "
            f"continue it with moola train --resume {args.resume}"
        )
    if args.objective is not None and objective_name(args.objective) != name:
        raise ConfigError(
            f"{args.resume} was pretrained with --objective {name.split(':', 1)[1]}; resume it "
            "with that objective (leave --objective out)"
        )
    config = TrainConfig.from_dict({**state["config"], **overrides})
    return PretrainObjective.from_name(name, config), overrides


class _Reporter:
    """The header, and a progress bar with the windows drawn per second."""

    def __init__(self, stack: contextlib.ExitStack[Any], objective: Any) -> None:
        self.stack = stack
        self.objective = objective
        self.update: Any = None
        self.windows_per_step = 0
        self.start: tuple[float, int] | None = None

    def started(self, plan: Plan) -> None:
        config, trainer = plan.config, plan.trainer
        assert trainer is not None
        if plan.notice is not None:
            say("pretrain", plan.notice)
        sources = self.objective.sources
        bars = sum(s["bars"] for s in sources)
        world = trainer.collective.world
        resumed = f" (resumed at step {plan.resumed_at})" if plan.resumed_at else ""
        say(
            "pretrain",
            f"{self.objective.kind} objective on {bars:,} bars of {len(sources)} series "
            f"({', '.join(s['source'] for s in sources)}); {len(trainer.data.train):,} training "
            f"windows (every bar), features {config.features} ({len(trainer.feature_names)}), "
            f"{config.balancer} balancer, {config.steps} steps, batch {config.batch_size}"
            f"{f' over {world} processes' if world > 1 else ''}, device {trainer.device}"
            f"{resumed}",
        )
        say("pretrain", trainer.data.split.info.describe())
        self.windows_per_step = trainer.batch_size
        self.start = (time.perf_counter(), trainer.step)
        self.update = self.stack.enter_context(
            progress_bar(config.steps, trainer.step, enabled=config.progress)
        )

    def progress(self, step: int, losses: Mapping[str, float]) -> None:
        if self.update is None or self.start is None:
            return
        began, first = self.start
        elapsed = time.perf_counter() - began
        rate = (step - first) * self.windows_per_step / elapsed if elapsed > 0 else 0.0
        self.update(step, {"windows/s": rate, **losses})

    def fold(self, scores: Any) -> None:
        pass


def _print(outcome: RunOutcome) -> None:
    from moola.report import print_table, train_table_rows
    from moola.rundir.layout import PRETRAINED_NAME

    metrics, written = outcome.metrics, outcome.written
    header, rows = train_table_rows(metrics["tasks"])
    steps = outcome.trainer.step if outcome.trainer is not None else outcome.config.steps
    seconds = metrics.get("timing", {}).get("fit_seconds")
    print_table(
        f"moola pretrain — {steps} steps (val losses; countdown in bars): final weights",
        header,
        rows,
    )
    if seconds:
        say("pretrain", f"trained in {seconds:.0f} s")
    if written.metrics is not None:
        folder = written.metrics.parent
        say(
            "pretrain",
            f"wrote {folder / PRETRAINED_NAME}, {written.metrics} and {written.checkpoint}; "
            f"start a run from it: moola train --init {folder}",
        )


def _export(folder: Path, target: Path) -> None:
    from moola.atomic import atomic_write
    from moola.rundir.layout import PRETRAINED_NAME

    data = (folder / PRETRAINED_NAME).read_bytes()
    atomic_write(target, lambda handle: handle.write(data))
    print(f"moola pretrain: exported {target} ({len(data) / 1024:.0f} KB)", file=sys.stderr)
