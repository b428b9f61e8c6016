"""The labelling rule one window at a time, as it was first written: the reference that
:func:`moola.data.labeling.label_windows` (the rule vectorised over windows) is held to."""

from __future__ import annotations

import numpy as np

from moola.data.labeling import LabelRule


def reference_label_window(ohlc: np.ndarray, rule: LabelRule) -> tuple[int, int, int]:
    """(label, expansion_start, expansion_end) of one (K, 4) window; 0/1/2 =
    consolidation/retracement/continuation (moola.data.windows.LABEL_NAMES)."""
    o, h, lo, c = ohlc[:, 0], ohlc[:, 1], ohlc[:, 2], ohlc[:, 3]
    k = ohlc.shape[0]
    unit = float(np.mean(h - lo))
    if not unit > 0:
        unit = float(np.abs(c).mean()) * 1e-12 or 1e-12
    last_end = k - 1 - rule.aftermath
    best_move, best_start, best_end = -1.0, 0, rule.min_length - 1
    for length in range(rule.min_length, min(rule.max_length, last_end + 1) + 1):
        starts = np.arange(0, last_end - length + 2)
        moves = np.abs(c[starts + length - 1] - o[starts])
        i = int(np.argmax(moves))
        if moves[i] > best_move:
            best_move, best_start, best_end = (
                float(moves[i]),
                int(starts[i]),
                int(starts[i]) + length - 1,
            )
    direction = 1.0 if c[best_end] >= o[best_start] else -1.0
    after = c[best_end + 1 : best_end + 1 + rule.aftermath]
    gave_back = direction * (c[best_end] - after) >= rule.retrace * best_move
    went_on = direction * (after - c[best_end]) >= rule.extend * unit
    first_back = int(np.argmax(gave_back)) if gave_back.any() else len(after)
    first_on = int(np.argmax(went_on)) if went_on.any() else len(after)
    if first_back < first_on:
        return 1, best_start, best_end
    if first_on < first_back:
        return 2, best_start, best_end
    return 0, best_start, best_end
