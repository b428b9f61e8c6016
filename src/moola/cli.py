"""The ``moola`` command: ``moola train`` (the main job), ``moola diagnose``, ``moola label``,
``moola sweep``, ``moola league``, and ``moola predict`` / ``moola export``
(:mod:`moola.inference.command`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from moola.balancing import BALANCERS, DEFAULT_BALANCER
from moola.data.features import DEFAULT_FEATURE_SET, FEATURE_GROUPS, FEATURE_SETS
from moola.errors import ConfigError, MoolaError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moola", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    balancers = ", ".join(sorted(BALANCERS))
    features_help = (
        f"feature set: {', '.join(FEATURE_SETS)}, or comma-separated groups of "
        f"{', '.join(FEATURE_GROUPS)}; default {DEFAULT_FEATURE_SET}"
    )

    train = sub.add_parser("train", help="train JadeCompact (default: built-in synthetic data)")
    train.add_argument(
        "--data",
        help="'synthetic' (default), a .parquet file, or a folder with bars.csv + labels.csv; "
        "with --resume: the run's recorded data",
    )
    train.add_argument(
        "--steps", type=int, help="total optimizer steps (also when resuming); default 1000"
    )
    train.add_argument(
        "--seed", type=int, help="seed of the run (init, batch order, dropout); default 0"
    )
    train.add_argument("--balancer", help=f"loss balancer: {balancers}; default {DEFAULT_BALANCER}")
    train.add_argument("--features", help=features_help)
    train.add_argument("--device", help="auto, cpu, cuda or cuda:N; default auto")
    train.add_argument(
        "--out",
        help="output folder for metrics.json, loss_curves.png, checkpoint.pt; default runs/latest",
    )
    train.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        help="continue a run from its checkpoint (file or output folder)",
    )
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--grad-clip", type=float, help="max global gradient norm (0 disables)")
    train.add_argument(
        "--countdown-units",
        choices=["normalized", "bars"],
        help="'bars' trains on raw ±20 targets (reproduces the legacy failure)",
    )
    train.add_argument("--threads", type=int, help="CPU threads")
    train.add_argument("--log-every", type=int)
    train.add_argument("--eval-every", type=int)
    train.add_argument("--checkpoint-every", type=int)
    train.add_argument(
        "--patience",
        type=int,
        help="stop after N evaluations (every --eval-every steps) without a new best; 0 = off",
    )
    train.add_argument(
        "--graph",
        action="store_true",
        default=None,
        help="capture the train step in a CUDA graph (CUDA only)",
    )
    train.add_argument(
        "--bf16",
        action="store_true",
        default=None,
        help="bfloat16 autocast (pays off only at large batch on GPU)",
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    diag = sub.add_parser("diagnose", help="probe each task's share of the shared-trunk gradient")
    diag.add_argument("--balancer", default=DEFAULT_BALANCER, help=f"one of: {balancers}")
    diag.add_argument("--seed", type=int, default=0)
    diag.add_argument("--data", default="synthetic")
    diag.add_argument(
        "--features", help=f"{features_help} (with --checkpoint: the checkpoint's by default)"
    )
    diag.add_argument("--batch-size", type=int, default=32)
    diag.add_argument("--countdown-units", choices=["normalized", "bars"], default="normalized")
    diag.add_argument(
        "--checkpoint", help="probe a trained model instead of a fresh initialisation"
    )
    diag.add_argument("--device", default="cpu")
    diag.add_argument("--json", action="store_true", help="print only the JSON result")

    label = sub.add_parser(
        "label", help="cut a continuous OHLC series (CSV/parquet) into labelled windows"
    )
    label.add_argument("series", help="CSV or parquet with open, high, low, close columns")
    label.add_argument("--out", required=True, help="output .parquet (original schema)")
    label.add_argument("--stride", type=int, default=15, help="bars between window starts")
    label.add_argument("--window", type=int, default=105, help="bars per window")

    sweep = sub.add_parser(
        "sweep", help="a grid of training runs (seeds × balancers × data × settings)"
    )
    sweep.add_argument("--seeds", default="0", help="e.g. 0-4 or 0,1,2; default 0")
    sweep.add_argument(
        "--balancers", default="all", help=f"comma-separated names or 'all' ({balancers})"
    )
    sweep.add_argument(
        "--data",
        action="append",
        help="a data source as for train (repeat for several); default synthetic",
    )
    sweep.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a TrainConfig field; repeat a key for an axis (--set lr=1e-3 --set lr=3e-3)",
    )
    sweep.add_argument("--steps", type=int, help="shortcut for --set steps=N")
    sweep.add_argument("--out", default="runs/sweep", help="sweep folder; default runs/sweep")
    sweep.add_argument(
        "--executor",
        choices=["pool", "ray", "inline"],
        default="pool",
        help="pool: local processes (default); ray: Ray tasks; inline: this process",
    )
    sweep.add_argument(
        "--workers", type=int, help=f"runs at once; default the number of cores ({os.cpu_count()})"
    )
    sweep.add_argument("--address", help="Ray cluster address (--executor ray), e.g. auto")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")

    league = sub.add_parser("league", help="rebuild a sweep's league table from its finished runs")
    league.add_argument("dir", help="the sweep's --out folder")

    from moola.inference.command import add_parsers  # moola predict, moola export

    add_parsers(sub)
    return parser


_TRAIN_FLAGS = {
    "data": "data",
    "steps": "steps",
    "seed": "seed",
    "balancer": "balancer",
    "features": "features",
    "device": "device",
    "out": "out_dir",
    "batch_size": "batch_size",
    "lr": "lr",
    "countdown_units": "countdown_units",
    "threads": "threads",
    "log_every": "log_every",
    "eval_every": "eval_every",
    "checkpoint_every": "checkpoint_every",
    "patience": "patience",
    "graph": "graph",
    "bf16": "bf16",
}


def run_train(args: argparse.Namespace) -> int:
    from moola.report import best_table_rows, print_table, train_table_rows
    from moola.train import TrainConfig, Trainer
    from moola.train.outdir import claim_out_dir, previous_run_notice
    from moola.train.run import train_and_write

    overrides: dict[str, Any] = {
        key: getattr(args, flag)
        for flag, key in _TRAIN_FLAGS.items()
        if getattr(args, flag) is not None
    }
    if args.grad_clip is not None:
        overrides["grad_clip"] = args.grad_clip or None
    overrides["progress"] = not args.no_progress
    if args.resume:
        trainer = Trainer.resume(args.resume, **overrides)
    else:
        trainer = Trainer(TrainConfig(**overrides))
    config = trainer.config
    with claim_out_dir(config.out_dir):  # before training: a bad or busy --out fails now
        out_dir, resume = config.out_dir, args.resume
        here = bool(out_dir and resume) and Path(out_dir or ".").resolve() in _resume_folders(
            resume or "."
        )
        notice = None if here else previous_run_notice(config.out_dir)
        if notice is not None:
            print(f"moola train: {notice}", file=sys.stderr)
        split = trainer.split
        print(
            f"moola train: {config.balancer} balancer, {config.steps} steps, batch {config.batch_size}, "
            f"device {trainer.device}, data {config.data} ({split['train']} training and "
            f"{split['val']} validation windows"
            + (f", {split['purged']} purged" if split["purged"] else "")
            + f"), features {config.features} ({len(trainer.feature_names)}), "
            + f"CPU threads {torch_threads()}{' (following the load)' if config.threads is None else ''}"
            + (f" (resumed at step {trainer.step})" if args.resume else ""),
            file=sys.stderr,
        )
        outputs = train_and_write(
            trainer, fit=lambda t: _fit_with_progress(t, enabled=config.progress)
        )
    metrics = outputs.metrics
    header, rows = train_table_rows(metrics["tasks"])
    stopped = " (stopped early: --patience)" if metrics["stopped_early"] else ""
    print_table(
        f"moola train — {config.balancer}, {trainer.step} steps{stopped} "
        "(val losses; countdown in bars): final weights",
        header,
        rows,
    )
    if metrics["best"] is not None:
        header, rows = best_table_rows(metrics)
        print_table(
            f"best weights (best.pt): step {metrics['best']['step']}, "
            f"mean val loss / const {metrics['best']['score']:.3f}",
            header,
            rows,
        )
    if outputs.metrics_path is not None:
        best = " and best.pt" if trainer.best_record is not None else ""
        print(f"wrote {outputs.metrics_path}, {outputs.checkpoint}{best}", file=sys.stderr)
        if outputs.plot is None:
            print(
                "no loss_curves.png: install matplotlib (pip install 'moola[plot]')",
                file=sys.stderr,
            )
        else:
            print(f"wrote {outputs.plot}", file=sys.stderr)
    return 0


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _resume_folders(resume: str) -> set[Path]:
    """The folder a ``--resume`` path stands for (a run folder, or a checkpoint's folder)."""
    path = Path(resume).resolve()
    return {path, path.parent}


def _fit_with_progress(trainer: Any, *, enabled: bool) -> Any:
    total = trainer.config.steps
    try:
        from rich.progress import Progress

        from moola.report import train_progress_columns
    except ImportError:
        enabled = False
    if not enabled:
        return trainer.fit()
    columns = train_progress_columns(total)  # step count and time left survive 80 columns
    with Progress(*columns, transient=False, expand=True) as progress:
        bar = progress.add_task("train", total=total, completed=trainer.step, losses="")

        def update(step: int, losses: dict[str, float]) -> None:
            text = " ".join(f"{k} {v:.4g}" for k, v in losses.items())
            progress.update(bar, completed=step, losses=text)

        return trainer.fit(progress=update)


def run_diagnose(args: argparse.Namespace) -> int:
    from moola.diagnose import DiagnoseConfig, diagnose
    from moola.report import diagnose_table_rows, print_table

    result = diagnose(
        DiagnoseConfig(
            balancer=args.balancer,
            seed=args.seed,
            data=args.data,
            batch_size=args.batch_size,
            countdown_units=args.countdown_units,
            device=args.device,
            checkpoint=args.checkpoint,
            features=args.features,
        )
    )
    if args.json:
        print(json.dumps(result))
        return 0
    header, rows = diagnose_table_rows(result)
    print_table(
        f"moola diagnose — {result['balancer']}, seed {result['seed']}, batch {result['batch_size']} "
        f"(countdown {result['countdown_units']}); spread {result['spread']:.2f}×\n"
        f"features {result['features']} ({len(result['feature_names'])}): "
        f"{', '.join(result['feature_names'])}",
        header,
        rows,
    )
    return 0


def run_label(args: argparse.Namespace) -> int:
    from moola.data import LABEL_NAMES, save_parquet
    from moola.data.labeling import LabelRule, label_file
    from moola.outfile import check_out_file

    check_out_file(args.out, ".parquet")  # before labelling: a .csv name would hold parquet
    windows = label_file(args.series, LabelRule(window=args.window, stride=args.stride))
    save_parquet(windows, args.out)
    counts = ", ".join(
        f"{name} {int((windows.label == i).sum())}" for i, name in enumerate(LABEL_NAMES)
    )
    print(f"moola label: wrote {len(windows)} windows to {args.out} ({counts})")
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    """Exit status 0 when every run finished, 1 when any run failed (its error.json says why)."""
    from moola.sweep import Grid, parse_balancers, parse_seeds, parse_settings, write_manifest
    from moola.sweep.executors import make_executor
    from moola.sweep.progress import SweepProgress
    from moola.sweep.runner import run_sweep as drive
    from moola.train.outdir import claim_out_dir

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
        print(f"moola sweep: {len(runs)} runs ({args.executor} executor) in {out}", file=sys.stderr)
        with SweepProgress(enabled=not args.no_progress) as progress:
            summary = drive(
                runs, out, executor, on_start=progress.start, on_outcome=progress.outcome
            )
        _print_league(out)
    print(
        f"moola sweep: {len(summary.finished)} runs finished now, {len(summary.skipped)} before, "
        f"{len(summary.failed)} failed",
        file=sys.stderr,
    )
    for name, error in summary.failed.items():
        print(f"  failed: {name}: {error.get('type')}: {error.get('message')}", file=sys.stderr)
    return 0 if summary.ok else 1


def run_league(args: argparse.Namespace) -> int:
    _print_league(Path(args.dir))
    return 0


def _print_league(directory: Path) -> None:
    from moola.report import print_table
    from moola.sweep.league import league_rows, write_league

    league = write_league(directory)
    header, rows = league_rows(league)
    print_table(f"moola league — {league['runs']} finished runs in {directory}", header, rows)
    drawn = (directory / "league.png").is_file()
    why = (
        "no finished run" if not league["runs"] else "install matplotlib: pip install 'moola[plot]'"
    )
    png = ", league.png" if drawn else f" (no league.png: {why})"
    print(f"wrote {directory / 'league.md'}, league.json{png}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if hasattr(args, "handler"):  # commands that bring their own (moola.inference.command)
            return int(args.handler(args))
        if args.command == "train":
            return run_train(args)
        if args.command == "label":
            return run_label(args)
        if args.command == "sweep":
            return run_sweep(args)
        if args.command == "league":
            return run_league(args)
        return run_diagnose(args)
    except MoolaError as exc:
        print(f"moola {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
