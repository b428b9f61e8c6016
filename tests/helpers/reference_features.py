"""The features as a plain per-window, per-bar loop: the slow reference the tests trust.

Not used by moola itself (keep it out of the hot path). It follows the definitions in
:mod:`moola.data.features`, :mod:`moola.data.features.swing` and :mod:`moola.data.features.move` line by line,
on Python floats, one bar at a time, with the zigzag as an explicit state machine. Every
float operation is the one the vectorised builder performs, in the same order (IEEE-754
makes ``a + b == b + a`` and ``a * b == b * a`` exact), so the two agree bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from moola.data.features import FEATURE_GROUPS, resolve_feature_set
from moola.data.features.candles import FeatureSettings
from moola.data.features.move import DRIFT_LIMIT, STEP_LIMIT
from moola.data.features.swing import (
    BARS_SINCE_LIMIT,
    CONFIRM_SLACK,
    CONSOLIDATION_LIMIT,
    DIST_LIMIT,
    EXPANSION_LIMIT,
)


def _clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def _share(num: float, rng: float, fill: float) -> float:
    return num / rng if rng > 0 else fill


def _in_units(move: float, unit: float, limit: float) -> float:
    if unit == 0:
        return 0.0 if move == 0 else math.copysign(limit, move)
    return _clip(move / unit, -limit, limit)


def reference_window(bars: np.ndarray, settings: FeatureSettings) -> dict[str, list[float]]:
    """Every registered feature of one (K, 4) window, as {name: K values}."""
    o, h, lo, c = ([float(v) for v in bars[:, i]] for i in range(4))
    k = len(o)
    out: dict[str, list[float]] = {}

    # shared series ---------------------------------------------------------------
    rng = [h[t] - lo[t] for t in range(k)]
    alpha = 2.0 / (settings.ema_span + 1.0)
    beta = 1.0 - alpha
    ema = [rng[0]]
    for t in range(1, k):
        ema.append(alpha * rng[t] + beta * ema[t - 1])
    tr = [rng[0]] + [max(h[t], c[t - 1]) - min(lo[t], c[t - 1]) for t in range(1, k)]
    atr = [tr[0]]
    for t in range(1, k):
        atr.append(atr[t - 1] + (tr[t] - atr[t - 1]) / min(t + 1, settings.atr_period))
    body = [_share(c[t] - o[t], rng[t], 0.0) for t in range(k)]
    range_z = [_clip(rng[t] / ema[t], 0.0, 3.0) if ema[t] > 0 else 0.0 for t in range(k)]

    # candle ----------------------------------------------------------------------
    out["open_norm"] = [_share(o[t] - lo[t], rng[t], 0.5) for t in range(k)]
    out["close_norm"] = [_share(c[t] - lo[t], rng[t], 0.5) for t in range(k)]
    out["body_pct"] = body
    out["upper_wick_pct"] = [_share(h[t] - max(o[t], c[t]), rng[t], 0.0) for t in range(k)]
    out["lower_wick_pct"] = [_share(min(o[t], c[t]) - lo[t], rng[t], 0.0) for t in range(k)]
    out["range_z"] = range_z

    # swing: the zigzag as a state machine ------------------------------------------
    k_eff = settings.swing_k - CONFIRM_SLACK
    leg = 0  # 0 undetermined, +1 up leg, -1 down leg
    cand_hi, cand_hi_bar, cand_lo, cand_lo_bar = h[0], 0, lo[0], 0
    swing_hi: tuple[float, int] | None = None
    swing_lo: tuple[float, int] | None = None
    names = ("dist_hi", "dist_lo", "since_hi", "since_lo", "expansion", "consolidation")
    cols: dict[str, list[float]] = {name: [] for name in names}
    for t in range(k):
        thr = k_eff * atr[t]
        if leg == 0:
            if h[t] > cand_hi:
                cand_hi, cand_hi_bar = h[t], t
            if lo[t] < cand_lo:
                cand_lo, cand_lo_bar = lo[t], t
            if cand_hi - cand_lo >= thr and cand_hi_bar != cand_lo_bar:
                if cand_hi_bar < cand_lo_bar:
                    swing_hi, leg = (cand_hi, cand_hi_bar), -1  # candidate low: the running low
                else:
                    swing_lo, leg = (cand_lo, cand_lo_bar), 1
        elif leg == 1:
            if h[t] > cand_hi:
                cand_hi, cand_hi_bar = h[t], t
            elif cand_hi - lo[t] >= thr:
                swing_hi, leg = (cand_hi, cand_hi_bar), -1
                cand_lo, cand_lo_bar = lo[t], t
        else:
            if lo[t] < cand_lo:
                cand_lo, cand_lo_bar = lo[t], t
            elif h[t] - cand_lo >= thr:
                swing_lo, leg = (cand_lo, cand_lo_bar), 1
                cand_hi, cand_hi_bar = h[t], t

        if t < settings.warmup:
            for name in names:
                cols[name].append(0.0)
            continue
        for swing, dist, since in (
            (swing_hi, "dist_hi", "since_hi"),
            (swing_lo, "dist_lo", "since_lo"),
        ):
            if swing is None:
                cols[dist].append(0.0)
                cols[since].append(BARS_SINCE_LIMIT)
            else:
                cols[dist].append(_in_units(c[t] - swing[0], atr[t], DIST_LIMIT))
                cols[since].append(min((t - swing[1]) / settings.bars_scale, BARS_SINCE_LIMIT))
        expansion = range_z[t] * float(leg) * body[t]
        cols["expansion"].append(_clip(expansion, -EXPANSION_LIMIT, EXPANSION_LIMIT))
        first = max(0, t - settings.atr_period + 1)
        width = max(h[first : t + 1]) - min(lo[first : t + 1])
        if width == 0:
            cols["consolidation"].append(CONSOLIDATION_LIMIT)
        else:
            cols["consolidation"].append(
                _in_units(math.sqrt(settings.atr_period) * atr[t], width, CONSOLIDATION_LIMIT)
            )
    out["dist_to_prev_swing_high"] = cols["dist_hi"]
    out["dist_to_prev_swing_low"] = cols["dist_lo"]
    out["bars_since_swing_high"] = cols["since_hi"]
    out["bars_since_swing_low"] = cols["since_lo"]
    out["expansion_proxy"] = cols["expansion"]
    out["consolidation_proxy"] = cols["consolidation"]

    # move ------------------------------------------------------------------------
    out["move_body"] = [_in_units(c[t] - o[t], ema[t], STEP_LIMIT) for t in range(k)]
    out["move_close_change"] = [
        0.0 if t == 0 else _in_units(c[t] - c[t - 1], ema[t], STEP_LIMIT) for t in range(k)
    ]
    out["move_from_start"] = [_in_units(c[t] - c[0], ema[t], DRIFT_LIMIT) for t in range(k)]

    # position --------------------------------------------------------------------
    out["position"] = [t / (k - 1) for t in range(k)]
    return out


def reference_features(
    ohlc: np.ndarray, feature_set: str = "all", ema_span: int = 20
) -> np.ndarray:
    """(N, K, 4) valid OHLC -> (N, K, F) float32, one window and one bar at a time."""
    settings = FeatureSettings(ema_span=ema_span)
    names = [n for g in resolve_feature_set(feature_set) for n in FEATURE_GROUPS[g].names]
    arr = np.asarray(ohlc, dtype=np.float64)
    out = np.empty((arr.shape[0], arr.shape[1], len(names)), dtype=np.float32)
    for i, window in enumerate(arr):
        values = reference_window(window, settings)
        for j, name in enumerate(names):
            out[i, :, j] = values[name]
    return out
