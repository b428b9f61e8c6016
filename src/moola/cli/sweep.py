"""``moola sweep``: parse the grid, run it on an executor, print the league."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from moola.cli.common import add_command, say
from moola.cli.league import print_league
from moola.errors import ConfigError


def add_parser(sub: Any) -> None:
    from moola.balancing.names import BALANCER_NAMES

    balancers = ", ".join(sorted(BALANCER_NAMES))
    parser = add_command(
        sub, "sweep", run, help="a grid of training runs (seeds × balancers × data × settings)"
    )
    parser.add_argument("--seeds", default="0", help="e.g. 0-4 or 0,1,2 (default: 0)")
    parser.add_argument(
        "--balancers",
        default="all",
        help=f"comma-separated names or all ({balancers}; default: all)",
    )
    parser.add_argument(
        "--data",
        action="append",
        help="a data source as for train (repeat for several; default: synthetic)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a TrainConfig field, parsed as train's --set; repeat a key for an axis "
        "(--set lr=1e-3 --set lr=3e-3)",
    )
    parser.add_argument("--steps", type=int, help="shortcut for --set steps=N")
    parser.add_argument("--out", default="runs/sweep", help="sweep folder (default: runs/sweep)")
    parser.add_argument(
        "--executor",
        choices=["pool", "ray", "inline"],
        default="pool",
        help="pool: local processes; ray: Ray tasks; inline: this process (default: pool)",
    )
    parser.add_argument(
        "--workers", type=int, help=f"runs at once (default: the number of cores, {os.cpu_count()})"
    )
    parser.add_argument("--address", help="Ray cluster address (--executor ray), e.g. auto")
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="also rerun the runs that failed twice (held back otherwise)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Exit status 0 when every run finished, 1 when any run failed (its error.json says why)."""
    from moola.rundir.claim import claim_out_dir
    from moola.sweep import Grid, parse_balancers, parse_seeds, parse_settings, write_manifest
    from moola.sweep.executors import make_executor
    from moola.sweep.progress import SweepProgress
    from moola.sweep.runner import run_sweep as drive

    items = list(args.set)
    if args.steps is not None:
        if any(item.partition("=")[0].strip() == "steps" for item in items):
            raise ConfigError("give the number of steps once: --steps or --set steps=N")
        items.append(f"steps={args.steps}")
    grid = Grid(
        data=tuple(dict.fromkeys(args.data or ["synthetic"])),
        balancers=parse_balancers(args.balancers),
        seeds=parse_seeds(args.seeds),
        settings=parse_settings(items),
    )
    out = Path(args.out)
    runs = grid.expand(out)
    executor = make_executor(args.executor, workers=args.workers, address=args.address)
    with claim_out_dir(out, "moola sweep"):  # a second sweep on --out refuses before writing
        write_manifest(out, grid, runs, args.executor)
        say("sweep", f"{len(runs)} runs ({args.executor} executor) in {out}")
        with SweepProgress(enabled=not args.no_progress) as progress:
            summary = drive(
                runs,
                out,
                executor,
                on_start=progress.start,
                on_outcome=progress.outcome,
                retry_failed=args.retry_failed,
            )
        print_league(out)
    say(
        "sweep",
        f"{len(summary.finished)} runs finished now, {len(summary.skipped)} before, "
        f"{len(summary.failed)} failed",
    )
    for name, error in summary.failed.items():
        print(f"  failed: {name}: {error.get('type')}: {error.get('message')}", file=sys.stderr)
    for name in summary.held_back:
        print(
            f"  not retried: {name} failed twice (see its error.json); rerun with "
            "--retry-failed to try it again",
            file=sys.stderr,
        )
    return 0 if summary.ok else 1
