"""One line that says what a run's verdict amounts to: how many heads learned, on how many
windows, and how wide the intervals that decided it were."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any


def half_width(metrics: Mapping[str, float]) -> float | None:
    """Half the width of a head's 95% ratio interval (``ratio_low``..``ratio_high``)."""
    if "ratio_low" not in metrics or "ratio_high" not in metrics:
        return None
    return (float(metrics["ratio_high"]) - float(metrics["ratio_low"])) / 2


def median_half_width(tasks: Mapping[str, Mapping[str, Any]]) -> float | None:
    """The median over heads of :func:`half_width` (None when no head has an interval)."""
    widths = [w for t in tasks.values() if (w := half_width(t.get("metrics", {}))) is not None]
    return statistics.median(widths) if widths else None


def learned_count(tasks: Mapping[str, Mapping[str, Any]]) -> str:
    """``"1 of 4 heads learned"`` (and which)."""
    learned = [name for name, t in tasks.items() if t.get("learned")]
    which = f" ({', '.join(learned)})" if learned else ""
    return f"{len(learned)} of {len(tasks)} heads learned{which}"


def summary_line(
    tasks: Mapping[str, Mapping[str, Any]],
    *,
    n_train: int | str,
    n_held: int,
    held: str = "validation",
    best: Mapping[str, Mapping[str, Any]] | None = None,
    weights: str = "final weights",
) -> str:
    """E.g. ``0 of 4 heads learned (final weights; best weights: 1 of 4 heads learned
    (type)); 142 training / 31 validation windows; median 95% interval ±0.40x the prior``."""
    text = learned_count(tasks) + f" ({weights}"
    if best is not None:
        text += f"; best weights: {learned_count(best)}"
    text += f"); {n_train} training / {n_held} {held} windows"
    width = median_half_width(tasks)
    if width is not None:
        text += f"; median 95% interval ±{width:.2f}x the prior"
    return text
