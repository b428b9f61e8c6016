"""Before training: how wide the verdict's interval will be on a held-out part, so that a part
too small to decide anything is said out loud.

The verdict calls a head learned only when the 95% interval of its loss ÷ its prior's lies
below 1x (:mod:`moola.verdict.interval`). How wide that interval is depends on the held-out
windows alone (how many, how much their losses vary, how many share bars), so it can be
estimated at split time, before a single step:

* **Estimate.** The prior-only predictor's per-window losses on the part are resampled by
  the verdict's own block bootstrap (the same blocks and seed); the 95% interval of the
  resampled mean ÷ the mean has half-width ``h``. A head whose per-window losses spread
  like its prior's gets a ratio interval about ``±h`` wide. (The paired interval is
  narrower when the head's and the prior's losses move together window by window, and up
  to √2 wider when they do not: ``h`` is the middle of the two.)
* **Threshold.** With half-width ``h``, only a head below about ``(1 − h)×`` its prior's
  loss can have its interval clear 1x, whatever its true gain: ``h`` is the smallest gain
  the part can decide. A part is called **too small to decide** when ``h`` exceeds
  :data:`MAX_HALF_WIDTH` = 0.15, three times the loss rule's own margin
  (``LEARNED_MARGIN``, 5%). The heads that learned on real bars gained 5–45% over their
  priors, most of them 10–25% (QUALITY.md, section 0), so on a part with ``h`` above 15%
  most real gains cannot be told from chance. Halving ``h`` takes about four times the
  windows (``h ∝ 1/√n``). Measured: the default synthetic run's 205 validation windows
  give ``h`` 1–10% by head; 34 windows of a random walk cut every 15 bars, 7–17%.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from moola.verdict.interval import BlockBootstrap, resampled_means
from moola.verdict.rules import LEARNED_MARGIN

#: A held-out part is too small to decide when a head's interval is expected to be wider
#: than ±this (as a fraction of its prior's loss): three times the verdict's loss margin.
MAX_HALF_WIDTH = 3 * LEARNED_MARGIN

#: ``metrics.json`` ``warnings[].kind`` of a part too small for the interval to decide.
SMALL_DATA = "small_data"


def expected_half_widths(
    prior_losses: Mapping[str, np.ndarray], boot: BlockBootstrap
) -> dict[str, float]:
    """Per head, the half-width ``h`` of the 95% interval of its prior's resampled mean loss
    ÷ its mean, on the windows in ``boot``'s order (see the module docstring)."""
    series = {name: np.asarray(v, dtype=np.float64) for name, v in prior_losses.items()}
    means = resampled_means(series, boot)
    tail = (1.0 - boot.level) / 2
    widths = {}
    for name, values in series.items():
        mean = float(values.mean())
        if not mean > 0 or len(values) == 0:
            widths[name] = float("inf")
            continue
        lo, hi = np.quantile(means[name] / mean, [tail, 1 - tail])
        widths[name] = float(hi - lo) / 2
    return widths


def too_small(widths: Mapping[str, float], limit: float = MAX_HALF_WIDTH) -> dict[str, float]:
    """The heads whose expected half-width is above ``limit``."""
    return {name: h for name, h in widths.items() if not h <= limit}


def small_part_warning(
    part: str, n: int, widths: Mapping[str, float], *, advice: str
) -> dict[str, str] | None:
    """A ``warnings`` entry when ``part`` (e.g. "validation set") of ``n`` windows is too
    small for the interval to decide any head; None when every head can be decided."""
    wide = too_small(widths)
    if not wide:
        return None
    heads = ", ".join(f"{name} ±{h:.0%}" for name, h in wide.items())
    return {
        "kind": SMALL_DATA,
        "text": (
            f"the {part} has {n} windows, too few for the verdict's 95% interval to decide: "
            f"it will be about {heads} of the prior's loss wide (more than ±"
            f"{MAX_HALF_WIDTH:.0%}), so only a head far below its prior can be called "
            f"learned; {advice}"
        ),
    }
