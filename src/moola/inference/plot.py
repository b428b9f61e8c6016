"""``moola predict --plot``: the newest windows as candlesticks with the spans shaded.

Each window gets a price panel (candlesticks; the true span where labelled, the predicted
span from the pointer head, and the last ``aftermath`` bars, where by the labelling rule no
expansion may end) and a panel beneath with the per-bar countdown (predicted, and the true
one where labelled) and the per-bar span probability. The title gives the class
probabilities. Plain matplotlib (extra ``plot``): mplfinance would need pandas for this.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from moola.atomic import atomic_write
from moola.data.labeling import LabelRule
from moola.errors import ConfigError
from moola.inference.predictions import Predictions
from moola.inference.sources import PredictInput
from moola.tasks import COUNTDOWN_CLIP

UP, DOWN = "#26a69a", "#ef5350"
TRUE_SPAN, PREDICTED_SPAN, AFTERMATH = "#1f77b4", "#ff7f0e", "#9e9e9e"


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("--plot needs matplotlib: pip install 'moola[plot]'") from None
    return plt


def candlesticks(ax: Any, ohlc: np.ndarray) -> None:
    """Wicks as lines, bodies as bars (a doji gets a hairline body)."""
    t = np.arange(len(ohlc))
    o, h, lo, c = ohlc.T
    colors = np.where(c >= o, UP, DOWN)
    ax.vlines(t, lo, h, colors=colors, linewidth=0.8, zorder=2)
    span = float(np.ptp(ohlc)) or 1.0
    body = np.maximum(np.abs(c - o), span * 2e-3)
    ax.bar(t, body, bottom=np.minimum(o, c), width=0.65, color=colors, zorder=3, linewidth=0)


def plot_windows(
    pred: Predictions,
    data: PredictInput,
    path: str | os.PathLike[str],
    *,
    n: int = 4,
    verdict_line: str | None = None,
    in_sample: np.ndarray | None = None,
) -> Path:
    """Draw the newest ``n`` windows of ``pred`` into a PNG, written atomically.

    ``verdict_line`` (predict's verdict beside the run's own) goes under the title; windows
    marked in ``in_sample`` say so in theirs."""
    plt = _pyplot()
    picks = list(range(max(0, len(pred) - n), len(pred)))
    columns = 1 if len(picks) == 1 else 2
    rows = -(-len(picks) // columns)
    extra = 0.3 if verdict_line else 0.0  # a second title line
    height = 4.6 * rows + 1.4 + extra
    fig = plt.figure(figsize=(8 * columns, height))
    outer = fig.add_gridspec(
        rows, columns, hspace=0.34, wspace=0.22, top=1 - (1.4 + extra) / height
    )
    aftermath = LabelRule().aftermath
    k = pred.window
    t = np.arange(k)
    for slot, i in enumerate(picks):
        row, col = divmod(slot, columns)
        cell = outer[row, col].subgridspec(2, 1, height_ratios=[3, 1.3], hspace=0.06)
        price = fig.add_subplot(cell[0])
        below = fig.add_subplot(cell[1], sharex=price)
        candlesticks(price, data.ohlc[i])
        labelled = data.labelled
        if labelled is not None:
            start, end = int(labelled.expansion_start[i]), int(labelled.expansion_end[i])
            price.axvspan(start - 0.5, end + 0.5, color=TRUE_SPAN, alpha=0.18, label="true span")
        price.axvspan(
            pred.span_start[i] - 0.5,
            pred.span_end[i] + 0.5,
            facecolor="none",
            edgecolor=PREDICTED_SPAN,
            hatch="///",
            linewidth=1.2,
            label="predicted span (pointers)",
        )
        price.axvspan(
            k - aftermath - 0.5,
            k - 0.5,
            color=AFTERMATH,
            alpha=0.12,
            label=f"last {aftermath} bars: no expansion ends here",
        )
        seen = in_sample is not None and bool(in_sample[i])
        price.set_title(_title(pred, data, i, in_sample=seen), fontsize=9)
        price.set_ylabel("price")
        price.tick_params(labelbottom=False)

        below.plot(t, pred.countdown[i], color=PREDICTED_SPAN, label="countdown (predicted)")
        if labelled is not None:
            true = np.clip(labelled.expansion_start[i] - t, -COUNTDOWN_CLIP, COUNTDOWN_CLIP)
            below.plot(t, true, color=TRUE_SPAN, linestyle="--", label="countdown (true)")
        below.axhline(0, color="black", linewidth=0.5)
        below.set_ylabel("bars to start")
        below.set_xlabel("bar in window")
        below.set_xlim(-1, k)
        below.set_ylim(-COUNTDOWN_CLIP - 5, COUNTDOWN_CLIP + 5)
        prob = below.twinx()
        prob.fill_between(
            t, pred.span_prob[i], step="mid", color="#2ca02c", alpha=0.2, label="p(in span)"
        )
        prob.axhline(0.5, color="#2ca02c", linewidth=0.6, linestyle=":")
        prob.set_ylim(0, 1)
        prob.set_ylabel("p(in span)", color="#2ca02c", fontsize=8)
    handles: list[Any] = []
    for ax in (price, below, prob):
        handles += ax.get_legend_handles_labels()[0]
    fig.legend(
        handles=handles,
        loc="upper center",
        ncol=len(handles),
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(0.5, 1 - (0.4 + extra) / height),
    )
    title = (
        "moola predict: the newest windows. A window's prediction describes its past: "
        f"the expansion ends at least {aftermath} bars before the window's end"
    )
    if verdict_line:
        title += "\n" + verdict_line
    fig.suptitle(title, fontsize=10, y=1 - 0.1 / height)
    target = Path(path)
    atomic_write(target, lambda handle: fig.savefig(handle, dpi=100, format="png"))
    plt.close(fig)
    return target


def _title(pred: Predictions, data: PredictInput, i: int, *, in_sample: bool = False) -> str:
    where = f"window {i}" + (" (in-sample: the run saw its bars)" if in_sample else "")
    if pred.start_bar is not None:
        first = int(pred.start_bar[i])
        where += f", series bars {first}..{first + pred.window - 1}"
    order = np.argsort(pred.type_prob[i])[::-1]
    probs = " · ".join(f"{pred.label_names[j]} {pred.type_prob[i, j]:.2f}" for j in order)
    text = f"{where}\npredicted: {probs}"
    if data.labelled is not None:
        text += f" | true: {pred.label_names[int(data.labelled.label[i])]}"
    return text
