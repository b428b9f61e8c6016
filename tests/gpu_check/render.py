"""Every line gpu-check writes or prints: markdown rows, the summary, JSON; nothing runs here."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.gpu_check.figures import EARLY_STEPS, Case, curve_gap, ratio
from tests.gpu_check.runner import Result

Record = dict[str, Any]
History = Mapping[str, list[float]]
#: Where a balancer's rows go in a block of one device, batch and mode.
BALANCER_ORDER = {"static": 0, "trunknorm": 1, "legacy": 2, "pcgrad": 3, "legacy-reference": 4}
#: The issue's targets at batch 32: label, the figures judged by median and by mean, the
#: limit, and whether they are read from the ``--graph`` row (else the eager one).
TARGETS: tuple[tuple[str, str, str, float, bool], ...] = (
    (
        "default `--graph` step ≤ 0.25 × seed-style eager loop",
        "x_loop_median",
        "x_loop_mean",
        0.25,
        True,
    ),
    ("default `--graph` step ≤ 1.0 ms", "median_ms", "mean_ms", 1.0, True),
    (
        "default ≤ 1.25 × `static`, both `--graph`",
        "x_static_same_mode_median",
        "x_static_same_mode_mean",
        1.25,
        True,
    ),
    (
        "default ≤ 1.25 × `static`, both eager",
        "x_static_same_mode_median",
        "x_static_same_mode_mean",
        1.25,
        False,
    ),
)


# --------------------------------------------------------------------------- cells and lines
def fmt(value: float | None, digits: int = 2) -> str:
    """A number with ``digits`` decimals; a dash for a missing one."""
    return "—" if value is None else f"{value:.{digits}f}"


def row(cells: Sequence[str]) -> str:
    """One markdown table row."""
    return "| " + " | ".join(cells) + " |"


def section(title: str, lines: Sequence[str]) -> list[str]:
    """A second-level heading over ``lines``, with the blank lines around them."""
    return [f"## {title}", "", *lines, ""]


def json_text(value: Any) -> str:
    """JSON as gpu-check writes it: indented, one trailing newline."""
    return json.dumps(value, indent=2) + "\n"


def status_of(result: Result) -> str:
    """A stage's status in one word or three: ok, FAILED (rc N), TIMED OUT, SKIPPED (why)."""
    if result.get("skipped"):
        return "SKIPPED (" + result["skipped"] + ")"
    if result.get("timed_out"):
        return "TIMED OUT"
    return "ok" if result.get("rc") == 0 else f"FAILED (rc {result.get('rc')})"


def stage_line(name: str, result: Result) -> str:
    """The line printed as a stage ends."""
    line = f"gpu-check: {name}: {status_of(result)} ({result.get('seconds', 0)} s)"
    if result.get("error"):
        line += f": {result['error']}"
    return line


# --------------------------------------------------------------------------- the summary
def verdict(failed: Sequence[str]) -> str:
    """The run in a few words: all ok, or the stages that were not."""
    return "all stages ok" if not failed else "FAILED: " + ", ".join(failed)


def summary(
    out: Path, dry_run: bool, seconds: float, failed: Sequence[str], results: Mapping[str, Result]
) -> dict[str, Any]:
    """summary.json: where the results went, how long it took, what failed, every result."""
    return {
        "out": str(out),
        "dry_run": dry_run,
        "seconds": seconds,
        "failed": list(failed),
        "stages": dict(results),
    }


def summary_markdown(failed: Sequence[str], results: Mapping[str, Result]) -> str:
    """summary.md: the verdict and one row per stage."""
    lines = [
        f"# gpu-check: {verdict(failed)}",
        "",
        "| stage | status | seconds | note |",
        "|---|---|---:|---|",
    ]
    lines += [
        f"| {n} | {status_of(r)} | {r.get('seconds', 0)} | {r.get('error') or r.get('note', '')} |"
        for n, r in results.items()
    ]
    return "\n".join(lines) + "\n"


def final_line(failed: Sequence[str], seconds: float, out: Path, written: Sequence[Path]) -> str:
    """The last line printed: the verdict, the time and the files $OUT received."""
    names = ", ".join(p.name for p in written)
    return f"gpu-check: {verdict(failed)} in {seconds} s; {out}: {names}"


def pack_failure_line(out: Path, exc: Exception) -> str:
    """Printed when $OUT could not be filled (the work folder still holds everything)."""
    return f"gpu-check: packing into {out} failed: {type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- env
def env_text(info: Mapping[str, Any]) -> str:
    """env.txt: one ``key: value`` line per fact, then nvidia-smi's table (or its error)."""
    lines = [f"{k}: {v}" for k, v in info.items() if k != "nvidia_smi"]
    smi = info["nvidia_smi"]
    lines += ["", "nvidia-smi:", smi.get("full") or smi.get("error", "")]
    return "\n".join(lines) + "\n"


def driver_of(env: Mapping[str, Any]) -> str:
    """The driver version from env.json's nvidia-smi CSV (its second field), else ``?``."""
    csv = env.get("nvidia_smi", {}).get("csv") or ""
    parts = [p.strip() for p in csv.splitlines()[0].split(",")] if csv else []
    return parts[1] if len(parts) > 1 else "?"


# --------------------------------------------------------------------------- gpu-rows.md
def benchmark_rows(records: Sequence[Record]) -> tuple[list[str], dict[str, Any]]:
    """Markdown table lines (BENCHMARKS.md columns) and the figures the targets use
    (figures.json), one per train-step benchmark."""
    steps = [r for r in records if r["kind"] is None]

    def find(device: str, mode: str, batch: int, balancer: str) -> Record | None:
        for r in steps:
            if (r["device"], r["mode"], r["batch"], r["balancer"]) == (
                device,
                mode,
                batch,
                balancer,
            ):
                return r
        return None

    lines = [
        "| device | mode | batch | balancer | median ms | min ms | mean ms | × static eager "
        "| × static same mode | × loop | mean × static eager | rounds |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    steps.sort(
        key=lambda r: (
            r["device"],
            r["batch"],
            r["mode"] != "eager",
            BALANCER_ORDER.get(r["balancer"], 9),
        )
    )
    figures: dict[str, Any] = {}
    for r in steps:
        static_eager = find(r["device"], "eager", r["batch"], "static")
        static_same = find(r["device"], r["mode"], r["batch"], "static")
        loop = find(r["device"], "eager", r["batch"], "legacy-reference")
        is_loop = r["balancer"] == "legacy-reference"
        name = "legacy-style loop (seed code)" if is_loop else r["balancer"]
        if r["balancer"] == "trunknorm":
            name = "**trunknorm** (default)"
        cells = [
            r["device"],
            "—" if is_loop else r["mode"],
            str(r["batch"]),
            name,
            fmt(r["median"], 3),
            fmt(r["min"], 3),
            fmt(r["mean"], 3),
            fmt(ratio(r["median"], static_eager and static_eager["median"])),
            "—" if is_loop else fmt(ratio(r["median"], static_same and static_same["median"])),
            fmt(ratio(r["median"], loop and loop["median"])),
            fmt(ratio(r["mean"], static_eager and static_eager["mean"])),
            str(r["rounds"]),
        ]
        lines.append(row(cells))
        key = f"{r['device']}-{r['mode']}-b{r['batch']}-{r['balancer']}"
        figures[key] = {
            "median_ms": r["median"],
            "mean_ms": r["mean"],
            "x_static_eager_median": ratio(r["median"], static_eager and static_eager["median"]),
            "x_static_same_mode_median": ratio(r["median"], static_same and static_same["median"]),
            "x_static_same_mode_mean": ratio(r["mean"], static_same and static_same["mean"]),
            "x_loop_median": ratio(r["median"], loop and loop["median"]),
            "x_loop_mean": ratio(r["mean"], loop and loop["mean"]),
        }
    return lines, figures


def cost_rows(records: Sequence[Record]) -> list[str]:
    """The trunknorm step-kind benchmarks (refresh vs in-between), if any ran."""
    costs = [r for r in records if r["kind"] is not None]
    if not costs:
        return []
    lines = [
        "| device | mode | trunknorm step kind (batch 32) | median ms | min ms | mean ms |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in sorted(costs, key=lambda r: (r["device"], r["mode"], r["kind"])):
        cells = [r["device"], r["mode"], r["kind"], fmt(r["median"], 3)]
        cells += [fmt(r["min"], 3), fmt(r["mean"], 3)]
        lines.append(row(cells))
    return lines


def met(value: float | None, limit: float) -> str:
    """Whether a target is met: yes, **no**, or a dash without a figure."""
    return "—" if value is None else ("yes" if value <= limit else "**no**")


def target_rows(figures: Mapping[str, Any], device: str) -> list[str]:
    """The issue's targets at batch 32, by median and by mean (refreshes included)."""
    graph = figures.get(f"{device}-graph-b32-trunknorm")
    eager = figures.get(f"{device}-eager-b32-trunknorm")
    lines = [
        "| target (batch 32) | by median | met? | by mean | met? |",
        "|---|---:|---|---:|---|",
    ]
    for label, by_median, by_mean, limit, on_graph in TARGETS:
        figure = graph if on_graph else eager
        med = None if figure is None else figure[by_median]
        mean = None if figure is None else figure[by_mean]
        cells = [label, fmt(med, 3), met(med, limit), fmt(mean, 3), met(mean, limit)]
        lines.append(row(cells))
    return lines


def junit_rows(cases: Sequence[Case] | None) -> list[str]:
    """Each GPU test's outcome and the drifts it recorded; a note when there is no XML."""
    if cases is None:
        return ["No pytest-gpu.xml (see pytest-gpu.log)."]
    lines = ["| test | outcome | seconds | recorded |", "|---|---|---:|---|"]
    for case in cases:
        outcome = {"failed": "**FAILED**", "error": "**ERROR**"}.get(case.outcome, case.outcome)
        recorded = ", ".join(f"{name} {value:.3g}" for name, value in case.recorded)
        lines.append(row([case.name, outcome, case.seconds, recorded or "—"]))
    return lines


def train_rows(runs: Mapping[str, Result]) -> list[str]:
    """One row per training run: status, steps, batch, fit time, heads learned, losses."""
    lines = [
        "| run | status | steps | batch | fit s | heads learned | final val losses |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for name, r in runs.items():
        learned = r.get("learned", {})
        heads = ", ".join(n for n, ok in learned.items() if ok) or "—"
        losses = ", ".join(f"{n} {v:.4g}" for n, v in r.get("final_val_loss", {}).items())
        cells = [name, status_of(r), str(r.get("steps", "—")), str(r.get("batch_size", "—"))]
        cells += [fmt(r.get("fit_seconds"), 1), heads, losses or "—"]
        lines.append(row(cells))
    return lines


def curve_comparison(eager: History | None, graph: History | None) -> str:
    """How far the --graph run's logged training losses are from the eager run's (no verdict:
    over 1000 steps with dropout, rounding differences are amplified; the GPU tests judge)."""
    if eager is None or graph is None:
        return "No comparison of the eager and `--graph` training curves (a run is missing)."
    gap = curve_gap(eager, graph)
    if gap is None:
        return "The eager and `--graph` runs logged different steps."
    first, overall = gap
    return (
        "`--graph` against eager, logged training losses (10-step means): max relative "
        f"difference {first:.3g} up to step {EARLY_STEPS}, {overall:.3g} over the whole run."
    )


def gpu_rows(
    env: Mapping[str, Any],
    records: Sequence[Record] | None,
    cases: Sequence[Case] | None,
    runs: Mapping[str, Result],
    curves: tuple[History | None, History | None],
) -> tuple[str, dict[str, Any]]:
    """gpu-rows.md and figures.json from what the stages wrote: env.json, the benchmark
    records (None without bench-cuda.json), the GPU tests, the training runs and the eager
    and ``--graph`` curves."""
    device = "cpu" if env.get("dry_run") else "cuda"
    lines = [
        "# GPU check: rows for BENCHMARKS.md",
        "",
        f"Card: {env.get('device', '?')} ({env.get('memory_gib', '?')} GiB, capability "
        f"{env.get('capability', '?')}); driver {driver_of(env)}; torch {env.get('torch')}, "
        f"CUDA {env.get('torch_cuda')}, cuDNN {env.get('cudnn')}; commit {env.get('commit')}.",
        "All ratios come from this one run (`bench-cuda.json`). One step per round; CUDA rounds "
        "end with `torch.cuda.synchronize()`.",
        "",
    ]
    figures: dict[str, Any] = {}
    if records is not None:
        table, figures = benchmark_rows(records)
        lines += section("Train step, ms per step", table)
        costs = cost_rows(records)
        if costs:
            lines += section("Trunknorm: refresh vs in-between step", costs)
        lines += section("Targets", target_rows(figures, device))
    else:
        lines += ["No benchmark figures: bench-cuda.json is missing (see bench-cuda.log).", ""]
    lines += section("GPU tests (`pytest-gpu.xml`)", junit_rows(cases))
    lines += section("`moola train` runs", train_rows(runs))
    lines += [curve_comparison(*curves), ""]
    return "\n".join(lines), figures
