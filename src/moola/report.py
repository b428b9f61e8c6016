"""Human-facing output of the CLI: tables (rich when installed) and the loss-curve PNG."""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from moola.atomic import atomic_write

#: The validation metric shown for each head, with its prior's counterpart (the two values
#: go in as text, printed with :data:`METRIC_DIGITS` decimals or as many as tell them apart).
HEAD_METRIC: dict[str, tuple[str, str, str]] = {
    "type": ("accuracy", "baseline_accuracy", "acc {0} (prior {1})"),
    "pointers": ("mae_bars", "baseline_mae_bars", "MAE {0} bars (prior {1})"),
    "binary": ("f1", "baseline_f1", "span F1 {0} (prior {1})"),
    "countdown": ("mae_bars", "baseline_mae_bars", "MAE {0} bars (prior {1})"),
    "reconstruction": ("mae", "baseline_mae", "hidden-bar MAE {0} (prior {1})"),
}
#: The fewest decimals of each head's metric.
METRIC_DIGITS = {"type": 3, "pointers": 2, "binary": 3, "countdown": 2, "reconstruction": 4}


def verdict_text(task: dict[str, Any]) -> str:
    """The verdict as shown: the decision (from ``metrics.json``) and the sentence behind it."""
    decision = "learned" if task["learned"] else "DID NOT LEARN"
    return f"{decision}: {task['why']}" if task.get("why") else decision


def ratio_text(loss: float, baseline: float, metrics: dict[str, float]) -> str:
    """Loss ÷ the prior's loss, with the paired bootstrap interval when there is one."""
    from moola.verdict.rules import LEARNED_MARGIN, decisive

    if not baseline:
        return "-"
    text = decisive(loss / baseline, 1 - LEARNED_MARGIN, 3)
    if "ratio_low" in metrics:
        low, high = (decisive(float(metrics[k]), 1.0) for k in ("ratio_low", "ratio_high"))
        text += f" [{low}, {high}]"
    return text


def metric_text(name: str, metrics: dict[str, float]) -> str:
    if name not in HEAD_METRIC:
        return "-"
    from moola.verdict.rules import decisive

    metric_key, base_key, fmt = HEAD_METRIC[name]
    if metric_key not in metrics:
        return "-"
    value, prior = float(metrics[metric_key]), float(metrics[base_key])
    digits = METRIC_DIGITS[name]
    text = fmt.format(decisive(value, prior, digits), decisive(prior, value, digits))
    if name == "type" and "balanced_accuracy" in metrics:
        text += f"; balanced {metrics['balanced_accuracy']:.3f}"
    if name == "binary" and "in_span_prob" in metrics:
        text += f"; p(in) {metrics['in_span_prob']:.2f} vs p(out) {metrics['out_span_prob']:.2f}"
    return text


#: How the tables name a held-out part: training's validation split, a fold's test block.
PARTS = {"validation": ("val", "validation"), "test": ("test", "test")}


def train_table_rows(
    tasks: dict[str, dict[str, Any]], *, part: str = "validation"
) -> tuple[list[str], list[list[str]]]:
    """The verdict table of one held-out ``part``: ``"validation"`` (one split) or
    ``"test"`` (a walk-forward fold's test block, or the folds pooled)."""
    short, long = PARTS[part]
    header = [
        "head",
        f"{short} loss: initial → final",
        "final / prior [95% CI]",
        f"{long} metric",
        "verdict (loss, its 95% CI and metric vs the prior-only predictor)",
    ]
    rows = []
    for name, t in tasks.items():
        rows.append(
            [
                name,
                f"{t['initial']:.4g} → {t['final']:.4g}",
                ratio_text(t["final"], t["baseline"], t.get("metrics", {})),
                metric_text(name, t.get("metrics", {})),
                verdict_text(t),
            ]
        )
    return header, rows


def best_table_rows(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The best step's weights: per head, loss ÷ baseline, metric and verdict."""
    header = ["head", "best val loss / prior [95% CI]", "validation metric", "verdict"]
    best, tasks = metrics["best"], metrics["tasks"]
    rows = []
    for name, t in best["tasks"].items():
        baseline = tasks[name]["baseline"]
        rows.append(
            [
                name,
                ratio_text(t["loss"], baseline, t.get("metrics", {})),
                metric_text(name, t.get("metrics", {})),
                verdict_text(t),
            ]
        )
    return header, rows


def diagnose_table_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = [
        "task",
        "loss",
        "weight",
        "trunk-grad norm",
        "share",
        "effective weight",
        "worst cosine",
    ]
    rows = [
        [
            name,
            f"{t['loss']:.4g}",
            f"{t['weight']:.4g}",
            f"{t['trunk_grad_norm']:.4g}",
            f"{t['share']:.3f}",
            f"{t['effective_weight']:.4g}",
            f"{t['worst_cosine']:+.3f}",
        ]
        for name, t in result["tasks"].items()
    ]
    return header, rows


def print_table(
    title: str, header: Sequence[str], rows: Sequence[Sequence[str]], *, file: Any = None
) -> None:
    """A rich table when rich is installed, aligned plain text otherwise."""
    file = file or sys.stdout
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
        print(title, file=file)
        for line in (header, *rows):
            print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)), file=file)
        return
    table = Table(title=title)
    for column in header:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(file=file, width=table_width()).print(table)


def table_width() -> int:
    """The terminal's width (``COLUMNS``, then the terminal), 160 when there is none (a pipe
    or a file): a table wider than the terminal wraps into garbage; rich wraps cells instead."""
    return max(40, shutil.get_terminal_size(fallback=(160, 24)).columns)


def train_progress_columns(total: int) -> tuple[Any, ...]:
    """``moola train``'s progress bar, which keeps the step count and the time left at any
    width: the bar takes what is free and the loss text is cut (with …) first."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.table import Column

    def fixed(width: int) -> Column:
        return Column(no_wrap=True, min_width=width)

    return (
        TextColumn("[bold]train", table_column=fixed(5)),
        BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=10)),
        MofNCompleteColumn(table_column=fixed(2 * len(str(total)) + 1)),
        TimeRemainingColumn(table_column=fixed(7)),
        TextColumn(
            "{task.fields[losses]}",
            table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis"),
        ),
    )


def plot_loss_curves(metrics: dict[str, Any], path: Path) -> Path | None:
    """Per-head training loss, validation loss and the prior's loss, and (when the run
    recorded telemetry) each task's share of the trunk gradient over the steps; None
    without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    history, tasks = metrics["history"], metrics["tasks"]
    names = list(tasks)
    telemetry = metrics.get("telemetry") or []
    cols, rows = (len(names) + 1) // 2, 2
    fig = plt.figure(figsize=(11, 10 if telemetry else 7))
    grid = fig.add_gridspec(rows + (1 if telemetry else 0), cols)
    axes = [fig.add_subplot(grid[i // cols, i % cols]) for i in range(rows * cols)]
    if telemetry:
        plot_shares(fig.add_subplot(grid[rows, :]), telemetry, names)
    for ax, name in zip(axes, names):
        ax.plot(history["step"], history[name], label="train")
        val = [(v["step"], v[name]) for v in metrics.get("validation", [])]
        if val:
            ax.plot(*zip(*val), "o--", label="validation")
        ax.axhline(tasks[name]["baseline"], color="grey", linestyle=":", label="prior")
        best = metrics.get("best")
        if best is not None:
            ax.axvline(best["step"], color="green", linestyle="--", alpha=0.5, label="best step")
        verdict = "learned" if tasks[name]["learned"] else "did NOT learn"
        why = textwrap.fill(tasks[name].get("why", ""), 75)  # the interval makes it long
        ax.set_title(f"{name}: {verdict}\n{why}", fontsize=8)
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    split = metrics.get("split") or {}
    split_text = (
        f"; {split['kind']} split {split['n_train']}/{split['n_val']}, {split['n_purged']} purged"
        if split
        else ""
    )
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(f"moola: per-head losses ({metrics['config']['balancer']}{split_text})")
    fig.tight_layout()
    atomic_write(path, lambda handle: fig.savefig(handle, dpi=110, format="png"))
    plt.close(fig)
    return path


#: Per task in order: a marker and a line style of its own, so that tasks on the same share
#: stay visible (nested hollow markers of shrinking size, different dashes).
SHARE_MARKERS = ("o", "s", "^", "D", "v", "P")
SHARE_STYLES = ("-", "--", "-.", ":")
#: Shares this close at every step are drawn on top of each other (half a percent of the axis).
SAME_SHARE = 5e-3


def plot_shares(ax: Any, telemetry: list[dict[str, Any]], names: list[str]) -> None:
    """Each task's share of the (weighted) trunk gradient at the telemetry steps.

    Tasks often sit exactly on one share (the default balancer equalises them), where plain
    lines hide each other: each task gets its own marker (hollow, larger for earlier tasks,
    so coinciding points show as nested marks) and dash, and the legend names the tasks a
    line coincides with (``binary (= type)``: within :data:`SAME_SHARE` at every step)."""
    steps = [record["step"] for record in telemetry]
    series = {name: [float(record[name]["share"]) for record in telemetry] for name in names}
    coincide = False
    for i, name in enumerate(names):
        same = [
            other
            for other in names[:i]
            if all(abs(a - b) <= SAME_SHARE for a, b in zip(series[other], series[name]))
        ]
        coincide = coincide or bool(same)
        ax.plot(
            steps,
            series[name],
            linestyle=SHARE_STYLES[i % len(SHARE_STYLES)],
            marker=SHARE_MARKERS[i % len(SHARE_MARKERS)],
            markersize=4 + 2.5 * (len(names) - 1 - i),
            fillstyle="none",
            label=name + (f" (= {', '.join(same)})" if same else ""),
        )
    title = "share of the trunk gradient (telemetry)"
    if coincide:
        title += "; (= other): the same share as that task, drawn on top of it"
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("step")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, ncol=len(names))
