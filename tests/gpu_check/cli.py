"""gpu-check's command line and ``main``: parse, check for CUDA, run the stages, summarise, pack."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import tests.gpu_check as package
from tests.gpu_check import render
from tests.gpu_check.layout import DEFAULT_OUT, DEFAULT_WORK
from tests.gpu_check.pack import pack
from tests.gpu_check.runner import TOTAL_BUDGET_S, Result, Stage, passed, run_stages
from tests.gpu_check.stages import STAGES

NO_CUDA_LINE = "gpu-check: no CUDA device (torch.cuda.is_available() is False); nothing to do"


def parse_args(argv: list[str] | None, table: Sequence[Stage] = STAGES) -> argparse.Namespace:
    """The options; ``stages`` comes back as a list of known names in the table's order."""
    description = (package.__doc__ or "").splitlines()[0]
    parser = argparse.ArgumentParser(prog="gpu-check", description=description)
    parser.add_argument("--dry-run", action="store_true", help="run the stages on the CPU")
    parser.add_argument(
        "--stages",
        default=",".join(stage.name for stage in table),
        help="comma-separated subset, in the standard order (default: all)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=DEFAULT_WORK,
        help="where the stages write (default gpu-check/work/, kept for reruns)",
    )
    parser.add_argument(
        "--budget", type=float, default=TOTAL_BUDGET_S, help="seconds for the whole run"
    )
    args = parser.parse_args(argv)
    known = [stage.name for stage in table]
    wanted = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        parser.error(f"unknown stage(s) {unknown}; stages are {known}")
    args.stages = [name for name in known if name in wanted]
    return args


def report(name: str, result: Result) -> None:
    """Print a stage's line as soon as it ends (the call's output shows progress)."""
    print(render.stage_line(name, result), flush=True)


def main(argv: list[str] | None = None, table: Sequence[Stage] = STAGES) -> int:
    """Exit status: 0 when every stage passed (or there is no CUDA), 1 when any failed or
    ran out of time, 2 when torch cannot be imported."""
    args = parse_args(argv, table)
    started = time.monotonic()
    try:
        import torch
    except ImportError as exc:
        print(f"gpu-check: error: torch cannot be imported ({exc})", file=sys.stderr)
        return 2
    if not args.dry_run and not torch.cuda.is_available():
        print(NO_CUDA_LINE)
        return 0

    out = Path(os.environ.get("OUT") or DEFAULT_OUT)
    work: Path = args.work  # kept between calls on a warm machine, for --stages reruns
    if args.stages == [stage.name for stage in table]:
        shutil.rmtree(work, ignore_errors=True)  # a full run starts clean
    work.mkdir(parents=True, exist_ok=True)
    deadline = started + args.budget
    results = run_stages(table, args.stages, work, args.dry_run, deadline, report)

    failed = [name for name, result in results.items() if not passed(result)]
    seconds = round(time.monotonic() - started, 1)
    summary = render.summary(out, args.dry_run, seconds, failed, results)
    (work / "summary.json").write_text(render.json_text(summary), encoding="utf-8")
    (work / "summary.md").write_text(render.summary_markdown(failed, results), encoding="utf-8")
    try:
        written = pack(work, out)
    except Exception as exc:  # the stages' files are still in the work folder
        print(render.pack_failure_line(out, exc))
        failed.append("pack")
        written = []
    rows = work / "gpu-rows.md"
    if rows.is_file():  # the figures in the call's output too, in case no file comes back
        print("\n" + rows.read_text(encoding="utf-8"))
    print(render.final_line(failed, seconds, out, written))
    return 0 if not failed else 1
