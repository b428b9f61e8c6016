"""The report (moola.report): tables and the train progress bar fit an 80-column terminal (they were
fixed at 160 columns and wrapped into garbage; the bar cut the step count and time left)."""

from __future__ import annotations

import io
import re

import pytest

pytest.importorskip("rich")

from rich.console import Console
from rich.progress import Progress

from moola.report import print_table, train_progress_columns, train_table_rows

TASK = {
    "initial": 1.0986,
    "final": 0.8123,
    "baseline": 1.05,
    "learned": False,
    "why": "loss 0.77x prior but span F1 0.000 <= prior 0.384",
    "metrics": {"f1": 0.0, "baseline_f1": 0.384, "in_span_prob": 0.3, "out_span_prob": 0.3},
}


@pytest.mark.parametrize("columns", [80, 100])
def test_tables_fit_the_terminal(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    header, rows = train_table_rows({"binary": TASK, "countdown": {**TASK, "metrics": {}}})
    out = io.StringIO()
    print_table(
        "moola train — trunknorm, 1000 steps (val losses; countdown in bars)",
        header,
        rows,
        file=out,
    )
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= columns
    assert any("binary" in line for line in lines) and any("countdown" in line for line in lines)


def test_tables_outside_a_terminal_keep_the_wide_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    header, rows = train_table_rows({"binary": TASK})
    out = io.StringIO()
    print_table("t", header, rows, file=out)  # pytest's stdout is not a terminal: 160
    assert max(len(line) for line in out.getvalue().splitlines()) > 80


@pytest.mark.parametrize("width", [60, 80, 160])
def test_the_progress_bar_keeps_the_step_count_and_time_left(width: int) -> None:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None)
    with Progress(
        *train_progress_columns(1000), console=console, auto_refresh=False, expand=True
    ) as progress:
        losses = "type 1.0986 pointers 0.01234 binary 0.6931 countdown 3.4567"
        task = progress.add_task("train", total=1000, completed=500, losses=losses)
        progress.update(task, completed=500)
        progress.refresh()
    lines = [s for s in re.split(r"[\r\n]|\x1b\[[0-9;?]*[A-Za-z]", out.getvalue()) if s.strip()]
    line = lines[-1]
    assert len(line) <= width
    assert "500/1000" in line and re.search(r"(-|\d):(--|\d\d):(--|\d\d)", line)
    assert "━" in line  # the bar itself is still drawn
    assert ("countdown 3.4567" in line) == (width >= 120)  # the loss text is what gets cut


def test_fold_tables_call_the_held_out_part_test() -> None:
    """Fold tables said "val loss" and "validation metric" of a test block."""
    header, _ = train_table_rows({"binary": TASK}, part="test")
    assert header[1] == "test loss: initial → final" and header[3] == "test metric"
    assert not any("val" in column for column in header)
    header, _ = train_table_rows({"binary": TASK})
    assert header[1] == "val loss: initial → final" and header[3] == "validation metric"


def test_the_table_ratio_prints_the_digits_that_decide() -> None:
    from moola.report import ratio_text

    assert (
        ratio_text(0.9503, 1.0, {"ratio_low": 0.9, "ratio_high": 0.9995}) == "0.9503 [0.90, 0.9995]"
    )
    assert ratio_text(0.5, 1.0, {}) == "0.500"


def test_the_share_panel_shows_every_task_when_they_coincide() -> None:
    """Three tasks on one share were three '.-' lines drawn on top of each other."""
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from moola.report import plot_shares

    names = ["type", "pointers", "binary", "countdown"]
    telemetry = [
        {
            "step": step,
            "type": {"share": 0.2},
            "pointers": {"share": 0.4},
            "binary": {"share": 0.2},
            "countdown": {"share": 0.2 + 1e-3},  # on top of them at the panel's scale
        }
        for step in (0, 100, 200)
    ]
    fig, ax = plt.subplots()
    plot_shares(ax, telemetry, names)
    lines = ax.get_lines()
    assert len(lines) == 4
    looks = {(line.get_marker(), line.get_linestyle(), line.get_markersize()) for line in lines}
    assert len(looks) == 4  # no two tasks drawn alike
    sizes = [line.get_markersize() for line in lines]
    assert sizes == sorted(sizes, reverse=True)  # nested: the later, the smaller
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["type", "pointers", "binary (= type)", "countdown (= type, binary)"]
    assert "the same share as that task" in ax.get_title()
    plt.close(fig)
