"""Human-facing output of the CLI: tables (rich when installed) and the loss-curve PNG."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from moola.atomic import atomic_write

#: The validation metric shown for each head, with its constant-predictor counterpart.
HEAD_METRIC: dict[str, tuple[str, str, str]] = {
    "type": ("accuracy", "baseline_accuracy", "acc {0:.3f} (const {1:.3f})"),
    "pointers": ("mae_bars", "baseline_mae_bars", "MAE {0:.2f} bars (const {1:.2f})"),
    "binary": ("f1", "baseline_f1", "span F1 {0:.3f} (const {1:.3f})"),
    "countdown": ("mae_bars", "baseline_mae_bars", "MAE {0:.2f} bars (const {1:.2f})"),
}


def train_table_rows(tasks: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = [
        "head",
        "val loss: initial → final",
        "drop %",
        "const baseline",
        "validation metric",
        "verdict",
    ]
    rows = []
    for name, t in tasks.items():
        metric_key, base_key, fmt = HEAD_METRIC[name]
        metrics = t.get("metrics", {})
        metric = (
            fmt.format(metrics[metric_key], metrics[base_key]) if metric_key in metrics else "-"
        )
        if name == "binary" and "in_span_prob" in metrics:
            metric += (
                f"; p(in) {metrics['in_span_prob']:.2f} vs p(out) {metrics['out_span_prob']:.2f}"
            )
        rows.append(
            [
                name,
                f"{t['initial']:.4g} → {t['final']:.4g}",
                f"{t['drop_pct']:.1f}",
                f"{t['baseline']:.4g}",
                metric,
                "learned" if t["learned"] else "DID NOT LEARN",
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
    Console(file=file, width=160).print(table)


def plot_loss_curves(metrics: dict[str, Any], path: Path) -> Path | None:
    """Per-head training loss, validation loss and constant baseline; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    history, tasks = metrics["history"], metrics["tasks"]
    names = list(tasks)
    fig, axes = plt.subplots(2, (len(names) + 1) // 2, figsize=(11, 7), squeeze=False)
    for ax, name in zip(axes.flat, names):
        ax.plot(history["step"], history[name], label="train")
        val = [(v["step"], v[name]) for v in metrics.get("validation", [])]
        if val:
            ax.plot(*zip(*val), "o--", label="validation")
        ax.axhline(tasks[name]["baseline"], color="grey", linestyle=":", label="constant baseline")
        verdict = "learned" if tasks[name]["learned"] else "did NOT learn"
        ax.set_title(f"{name} ({verdict})")
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.suptitle(f"moola: per-head losses ({metrics['config']['balancer']})")
    fig.tight_layout()
    atomic_write(path, lambda handle: fig.savefig(handle, dpi=110, format="png"))
    plt.close(fig)
    return path
