"""``moola train``: parse the flags (generated from TrainConfig), run, print the verdict tables."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moola.cli.common import add_command, progress_bar, say

if TYPE_CHECKING:
    from moola.train.folds import FoldScores
    from moola.train.run import Plan, RunOutcome


def add_parser(sub: Any) -> None:
    from moola.train.fields import add_train_flags

    parser = add_command(
        sub,
        "train",
        run,
        help="train JadeCompact (default: built-in synthetic data)",
        description="Train JadeCompact. Every flag is a TrainConfig field; unset flags keep "
        "its default (or, with --resume, the run's recorded value).",
    )
    add_train_flags(parser)
    parser.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        help="continue a run from its checkpoint (file or output folder)",
    )


def run(args: argparse.Namespace) -> int:
    from moola.train.fields import check_given, train_overrides
    from moola.train.run import run_training

    overrides = train_overrides(args)
    check_given(overrides, resuming=args.resume is not None)
    with contextlib.ExitStack() as stack:
        reporter = _Reporter(stack)
        outcome = run_training(overrides, resume=args.resume, reporter=reporter)
    if outcome.folds is not None:
        _print_pooled(outcome)
    else:
        _print_split(outcome)
    _print_ending(outcome.metrics, already=reporter.warned)
    return 0


def warn(warning: Mapping[str, str]) -> None:
    say("train", f"warning: {warning['text']}")


def _print_ending(metrics: Mapping[str, Any], *, already: set[str]) -> None:
    """The summary line (stdout, after the tables) and the warnings not printed yet."""
    for warning in metrics.get("warnings", []):
        if warning["text"] not in already:
            warn(warning)
    if metrics.get("summary"):
        print(f"summary: {metrics['summary']}")


class _Reporter:
    """The header, the progress bar and, for folds, a table per fold (a
    :class:`moola.train.run.Reporter`)."""

    def __init__(self, stack: contextlib.ExitStack[Any]) -> None:
        self.stack = stack
        self.update: Any = None
        #: The warnings already printed (the end prints the others).
        self.warned: set[str] = set()

    def warn(self, warnings: list[dict[str, str]]) -> None:
        for warning in warnings:
            if warning["text"] not in self.warned:
                warn(warning)
                self.warned.add(warning["text"])

    def started(self, plan: Plan) -> None:
        config, trainer = plan.config, plan.trainer
        if plan.notice is not None:
            say("train", plan.notice)
        if trainer is None:  # walk-forward folds
            say(
                "train",
                f"{config.folds} walk-forward folds, {config.balancer} balancer, "
                f"{config.steps} steps per fold, data {config.data}",
            )
            return
        threads = _torch_threads()
        following = " (following the load)" if config.threads is None else ""
        resumed = f" (resumed at step {plan.resumed_at})" if plan.resumed_at else ""
        from moola.data.store import resolve_semantics

        inputs = resolve_semantics(config.inputs, config.features)
        batch = f"{trainer.batch_size}"
        if trainer.batch_size != config.batch_size:
            batch += f" (--batch-size {config.batch_size} is more than the training windows)"
        say(
            "train",
            f"{config.balancer} balancer, {config.steps} steps, batch {batch}, "
            f"device {trainer.device}, data {config.data}, features {config.features} "
            f"({len(trainer.feature_names)}, {inputs} inputs), CPU threads {threads}"
            f"{following}{resumed}",
        )
        say("train", trainer.data.split.info.describe())
        self.warn(trainer.warnings)
        self.update = self.stack.enter_context(
            progress_bar(config.steps, trainer.step, enabled=config.progress)
        )

    def progress(self, step: int, losses: Mapping[str, float]) -> None:
        if self.update is not None:
            self.update(step, dict(losses))

    def fold(self, scores: FoldScores) -> None:
        from moola.report import print_table, train_table_rows

        header, rows = train_table_rows(scores.tasks, part="test")
        print_table(
            f"fold {scores.fold}: {scores.n_train} train windows (best step {scores.best_step} "
            f"by its inner split), {scores.n_test} test windows",
            header,
            rows,
        )
        self.warn(scores.warnings)


def _print_split(outcome: RunOutcome) -> None:
    from moola.report import best_table_rows, print_table, train_table_rows

    config, metrics, written = outcome.config, outcome.metrics, outcome.written
    steps = outcome.trainer.step if outcome.trainer is not None else config.steps
    header, rows = train_table_rows(metrics["tasks"])
    stopped = " (stopped early: --patience)" if metrics["stopped_early"] else ""
    print_table(
        f"moola train — {config.balancer}, {steps} steps{stopped} "
        "(val losses; countdown in bars): final weights",
        header,
        rows,
    )
    if metrics["best"] is not None:
        header, rows = best_table_rows(metrics)
        print_table(
            f"best weights (best.pt): step {metrics['best']['step']}, "
            f"mean val loss / prior {metrics['best']['score']:.3f}",
            header,
            rows,
        )
    if written.metrics is not None:
        best = " and best.pt" if metrics["best"] is not None else ""
        print(f"wrote {written.metrics}, {written.checkpoint}{best}", file=sys.stderr)
        if written.plot is None:
            print(
                "no loss_curves.png: install matplotlib (pip install 'moola[plot]')",
                file=sys.stderr,
            )
        else:
            print(f"wrote {written.plot}", file=sys.stderr)


def _print_pooled(outcome: RunOutcome) -> None:
    from moola.report import print_table, train_table_rows

    metrics = outcome.metrics
    header, rows = train_table_rows(metrics["tasks"], part="test")
    print_table(
        f"pooled over {outcome.config.folds} folds: {metrics['n_test']} test windows",
        header,
        rows,
    )
    if outcome.written.metrics is not None:
        out = Path(outcome.written.metrics).parent
        print(f"wrote {outcome.written.folds} and {out / 'metrics.json'}", file=sys.stderr)


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()
