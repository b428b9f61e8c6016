"""The ``moola`` command: ``moola train`` (the main job), ``moola diagnose``, ``moola label``,
``moola sweep``, ``moola league``, and ``moola predict`` / ``moola export``
(:mod:`moola.inference.command`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from moola import __version__
from moola.balancing import BALANCERS
from moola.data.features import DEFAULT_FEATURE_SET, FEATURE_GROUPS, FEATURE_SETS
from moola.errors import ConfigError, MoolaError


def build_parser() -> argparse.ArgumentParser:
    """The commands and their flags; ``moola train``'s come from TrainConfig's fields."""
    from moola.data import LabelRule
    from moola.diagnose import DiagnoseConfig
    from moola.train.fields import add_train_flags

    parser = argparse.ArgumentParser(
        prog="moola", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"moola {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    balancers = ", ".join(sorted(BALANCERS))
    features_help = (
        f"feature set ({', '.join(FEATURE_SETS)}) or comma-separated groups of "
        f"{', '.join(FEATURE_GROUPS)}"
    )

    train = sub.add_parser(
        "train",
        help="train JadeCompact (default: built-in synthetic data)",
        description="Train JadeCompact. Every flag is a TrainConfig field; unset flags keep "
        "its default (or, with --resume, the run's recorded value).",
    )
    add_train_flags(train)
    train.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        help="continue a run from its checkpoint (file or output folder)",
    )
    train.set_defaults(func=run_train)

    diagnose_defaults = DiagnoseConfig()
    diag = sub.add_parser("diagnose", help="probe each task's share of the shared-trunk gradient")
    diag.add_argument(
        "--balancer",
        default=diagnose_defaults.balancer,
        help=f"loss balancer: {balancers} (default: {diagnose_defaults.balancer})",
    )
    diag.add_argument(
        "--seed",
        type=int,
        default=diagnose_defaults.seed,
        help="seed of the run, as for train: initialisation, split and batch order "
        f"(default: {diagnose_defaults.seed})",
    )
    diag.add_argument(
        "--data", help="a data source as for train (default: synthetic, or the checkpoint's)"
    )
    diag.add_argument(
        "--features",
        help=f"{features_help} (default: {DEFAULT_FEATURE_SET}, or the checkpoint's)",
    )
    diag.add_argument(
        "--batch-size",
        type=int,
        default=diagnose_defaults.batch_size,
        help=f"windows in the probed batch (default: {diagnose_defaults.batch_size})",
    )
    diag.add_argument(
        "--countdown-units",
        choices=["normalized", "bars"],
        help="countdown targets (default: normalized, or the checkpoint's)",
    )
    diag.add_argument(
        "--checkpoint", help="probe a trained model (and its data) instead of a fresh one"
    )
    diag.add_argument(
        "--device",
        default=diagnose_defaults.device,
        help=f"cpu, cuda or cuda:N (default: {diagnose_defaults.device})",
    )
    diag.add_argument("--json", action="store_true", help="print only the JSON result")
    diag.set_defaults(func=run_diagnose)

    rule = LabelRule()
    label = sub.add_parser(
        "label", help="cut a continuous OHLC series (CSV/parquet) into labelled windows"
    )
    label.add_argument(
        "series",
        nargs="+",
        help="CSV or parquet with open, high, low, close columns (several: one pooled dataset)",
    )
    label.add_argument("--out", required=True, help="output .parquet (original schema)")
    label.add_argument(
        "--stride",
        type=int,
        default=rule.stride,
        help=f"bars between window starts (default: {rule.stride})",
    )
    label.add_argument(
        "--window", type=int, default=rule.window, help=f"bars per window (default: {rule.window})"
    )
    label.set_defaults(func=run_label)

    sweep = sub.add_parser(
        "sweep", help="a grid of training runs (seeds × balancers × data × settings)"
    )
    sweep.add_argument("--seeds", default="0", help="e.g. 0-4 or 0,1,2 (default: 0)")
    sweep.add_argument(
        "--balancers",
        default="all",
        help=f"comma-separated names or all ({balancers}; default: all)",
    )
    sweep.add_argument(
        "--data",
        action="append",
        help="a data source as for train (repeat for several; default: synthetic)",
    )
    sweep.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a TrainConfig field, parsed as train's --set; repeat a key for an axis "
        "(--set lr=1e-3 --set lr=3e-3)",
    )
    sweep.add_argument("--steps", type=int, help="shortcut for --set steps=N")
    sweep.add_argument("--out", default="runs/sweep", help="sweep folder (default: runs/sweep)")
    sweep.add_argument(
        "--executor",
        choices=["pool", "ray", "inline"],
        default="pool",
        help="pool: local processes; ray: Ray tasks; inline: this process (default: pool)",
    )
    sweep.add_argument(
        "--workers", type=int, help=f"runs at once (default: the number of cores, {os.cpu_count()})"
    )
    sweep.add_argument("--address", help="Ray cluster address (--executor ray), e.g. auto")
    sweep.add_argument(
        "--retry-failed",
        action="store_true",
        help="also rerun the runs that failed twice (held back otherwise)",
    )
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    sweep.set_defaults(func=run_sweep)

    league = sub.add_parser("league", help="rebuild a sweep's league table from its finished runs")
    league.add_argument("dir", help="the sweep's --out folder")
    league.set_defaults(func=run_league)

    from moola.inference.command import add_parsers  # moola predict, moola export

    add_parsers(sub)
    return parser


def run_train(args: argparse.Namespace) -> int:
    from moola.report import best_table_rows, print_table, train_table_rows
    from moola.train import TrainConfig, Trainer
    from moola.train.fields import train_overrides
    from moola.train.outdir import claim_out_dir, previous_run_notice
    from moola.train.run import train_and_write

    overrides = train_overrides(args)
    if overrides.get("folds"):
        return run_train_folds(args, overrides)
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
        print(
            f"moola train: {config.balancer} balancer, {config.steps} steps, batch {config.batch_size}, "
            f"device {trainer.device}, data {config.data}, "
            + f"features {config.features} ({len(trainer.feature_names)}), "
            + f"CPU threads {torch_threads()}{' (following the load)' if config.threads is None else ''}"
            + (f" (resumed at step {trainer.step})" if args.resume else ""),
            file=sys.stderr,
        )
        print(f"moola train: {trainer.data.split.info.describe()}", file=sys.stderr)
        with progress_bar(config.steps, trainer.step, enabled=config.progress) as progress:
            outputs = train_and_write(trainer, progress=progress)
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


def run_train_folds(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    """``moola train --folds K``: walk-forward folds, a table per fold and the pooled verdict."""
    from moola.errors import ConfigError
    from moola.report import print_table, train_table_rows
    from moola.train import TrainConfig
    from moola.train.folds import FOLDS_NAME
    from moola.train.outdir import claim_out_dir
    from moola.train.run import folds_and_write

    if args.resume:
        raise ConfigError("--folds trains every fold afresh; drop --resume (or --folds)")
    config = TrainConfig(**{**overrides, "progress": False})
    with claim_out_dir(config.out_dir):
        print(
            f"moola train: {config.folds} walk-forward folds, {config.balancer} balancer, "
            f"{config.steps} steps per fold, data {config.data}",
            file=sys.stderr,
        )

        def show(fold: Any) -> None:
            header, rows = train_table_rows(fold.tasks)
            print_table(
                f"fold {fold.fold}: {fold.n_train} train windows (best step {fold.best_step} "
                f"by its inner split), {fold.n_test} test windows",
                header,
                rows,
            )

        metrics = folds_and_write(config, on_fold=show)
        header, rows = train_table_rows(metrics["tasks"])
        print_table(
            f"pooled over {config.folds} folds: {metrics['n_test']} test windows", header, rows
        )
        if config.out_dir is not None:
            out = Path(config.out_dir)
            print(f"wrote {out / FOLDS_NAME} and {out / 'metrics.json'}", file=sys.stderr)
    return 0


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _resume_folders(resume: str) -> set[Path]:
    """The folder a ``--resume`` path stands for (a run folder, or a checkpoint's folder)."""
    path = Path(resume).resolve()
    return {path, path.parent}


@contextlib.contextmanager
def progress_bar(total: int, completed: int, *, enabled: bool) -> Iterator[Any]:
    """A rich progress bar fed by the trainer's log callback; None when disabled or without rich."""
    try:
        from rich.progress import Progress

        from moola.report import train_progress_columns
    except ImportError:
        enabled = False
    if not enabled:
        yield None
        return
    columns = train_progress_columns(total)  # step count and time left survive 80 columns
    with Progress(*columns, transient=False, expand=True) as progress:
        bar = progress.add_task("train", total=total, completed=completed, losses="")

        def update(step: int, losses: dict[str, float]) -> None:
            text = " ".join(f"{k} {v:.4g}" for k, v in losses.items())
            progress.update(bar, completed=step, losses=text)

        yield update


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
    model = (
        "a fresh model" if result["checkpoint"] is None else f"checkpoint {result['checkpoint']}"
    )
    print(
        f"moola diagnose: {model} on data {result['data']} (its first training batch)",
        file=sys.stderr,
    )
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
    from moola.data import LABEL_NAMES, LabelRule, label_file, save_parquet
    from moola.outfile import check_out_file

    check_out_file(args.out, ".parquet")  # before labelling: a .csv name would hold parquet
    rule = LabelRule(window=args.window, stride=args.stride)
    if len(args.series) == 1:
        windows = label_file(args.series[0], rule)
    else:  # pooled series: a series id beside start_bar (moola.data.sources.label_files)
        from moola.data.sources import label_files

        windows = label_files(args.series, rule)
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
                runs,
                out,
                executor,
                on_start=progress.start,
                on_outcome=progress.outcome,
                retry_failed=args.retry_failed,
            )
        _print_league(out)
    print(
        f"moola sweep: {len(summary.finished)} runs finished now, {len(summary.skipped)} before, "
        f"{len(summary.failed)} failed",
        file=sys.stderr,
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
        status: int = args.func(args)
        return status
    except MoolaError as exc:
        print(f"moola {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
