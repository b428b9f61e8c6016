"""The ``move`` feature group: how far and which way price moves across bars, in a common unit.

Every candle feature is a share of the bar's *own* range, so none of them says how large a
move is compared with other bars, nor which way price travels across bars. These do: each
is a price difference divided by ``E_t``, the EMA (span ``ema_span``, 20) of the bar range
at bar t, the same EMA as ``range_z``. Dividing two prices' difference by a range makes
them scale-invariant; using ``E_t`` (bars ``0..t`` only) keeps them causal.

==================  ================================================  ==========
name                meaning                                           range
==================  ================================================  ==========
move_body           (close_t - open_t) / E_t: the bar's body          [-3, 3]
move_close_change   (close_t - close_{t-1}) / E_t; 0 on bar 0         [-3, 3]
move_from_start     (close_t - close_0) / E_t: the window's drift      [-10, 10]
==================  ================================================  ==========

The first two rarely leave [-3, 3] (a body or a gap of three typical ranges); the drift
accumulates over up to 104 bars, so its clip is wider. While ``E_t`` is 0 (no bar has any
range yet) a move is given the clip bound with its sign, and no move gives 0.
"""

from __future__ import annotations

import numpy as np

from moola.data.features.candles import Candles, FeatureSettings, in_units

MOVE_FEATURES: tuple[str, ...] = ("move_body", "move_close_change", "move_from_start")
STEP_LIMIT = 3.0
DRIFT_LIMIT = 10.0


def move_features(candles: Candles, settings: FeatureSettings) -> list[np.ndarray]:
    """The three move features as bar-major (K, N) columns."""
    unit = candles.range_ema(settings.ema_span)
    close = candles.close
    change = np.empty_like(close)
    change[0] = 0.0
    np.subtract(close[1:], close[:-1], out=change[1:])
    return [
        in_units(close - candles.open, unit, STEP_LIMIT),
        in_units(change, unit, STEP_LIMIT),
        in_units(close - close[0], unit, DRIFT_LIMIT),
    ]
