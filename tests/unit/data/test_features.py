"""Candle features: hand-checked values, scale invariance, causality and clean errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moola.data import CANDLE_FEATURES, FEATURE_NAMES, build_features, feature_names
from moola.errors import ConfigError, InputValidationError
from tests.helpers.ohlc import valid_ohlc

FAST = settings(max_examples=50, deadline=None)


def test_feature_names_are_the_originals_in_order_then_the_moves():
    original = (
        "open_norm",
        "close_norm",
        "body_pct",
        "upper_wick_pct",
        "lower_wick_pct",
        "range_z",
        "dist_to_prev_swing_high",
        "dist_to_prev_swing_low",
        "bars_since_swing_high",
        "bars_since_swing_low",
        "expansion_proxy",
        "consolidation_proxy",
        "position",
    )
    assert feature_names("original") == original
    # The default set, ``all``: the original's 12 bar features, the moves, then the position.
    moves = ("move_body", "move_close_change", "move_from_start")
    assert (*original[:-1], *moves, "position") == FEATURE_NAMES
    assert FEATURE_NAMES[:6] == CANDLE_FEATURES


def test_hand_worked_three_bars():
    ohlc = np.array(
        [
            [10.0, 12.0, 8.0, 11.0],  # range 4, up bar
            [11.0, 11.0, 5.0, 6.0],  # range 6, down bar opening at its high
            [7.0, 7.0, 7.0, 7.0],  # zero range
        ]
    )
    f = build_features(ohlc, feature_set="candle,position")
    assert f.shape == (3, 7) and f.dtype == np.float32
    # EMA20 of the range: alpha = 2/21, seeded with 4; then 4 + (2/21)(6 - 4) = 88/21;
    # then (19/21)(88/21) on the flat bar.
    expected = np.array(
        [
            # open_norm, close_norm, body, upper, lower, range_z, position
            [2 / 4, 3 / 4, 1 / 4, 1 / 4, 2 / 4, 4 / 4, 0.0],
            [6 / 6, 1 / 6, -5 / 6, 0 / 6, 1 / 6, 6 / (88 / 21), 0.5],
            [0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 1.0],
        ]
    )
    np.testing.assert_allclose(f, expected, rtol=1e-6, atol=1e-7)


def test_range_z_is_clipped_to_three_and_span_changes_it():
    ohlc = np.array([[10.0, 10.1, 9.9, 10.0]] * 5 + [[10.0, 20.0, 9.0, 19.0]])
    assert build_features(ohlc)[-1, 5] == pytest.approx(3.0)
    # With span 1 the EMA is the range itself, so range_z is 1 on every non-flat bar.
    np.testing.assert_allclose(build_features(ohlc, ema_span=1)[:, 5], 1.0)


def test_range_z_matches_a_recursive_ema_on_a_long_window():
    # A plain loop is the reference; 2000 bars would overflow a cumprod-based shortcut.
    rng = np.random.default_rng(0)
    k = 2000
    close = 100 * np.cumprod(1 + 0.01 * rng.standard_normal(k))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + 0.01 * rng.random(k))
    low = np.minimum(open_, close) * (1 - 0.01 * rng.random(k))
    ohlc = np.stack([open_, high, low, close], axis=-1)
    span = 20
    alpha = 2 / (span + 1)
    ranges = high - low
    ema = np.empty(k)
    ema[0] = ranges[0]
    for t in range(1, k):
        ema[t] = alpha * ranges[t] + (1 - alpha) * ema[t - 1]
    got = build_features(ohlc, ema_span=span)[:, 5]
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, np.clip(ranges / ema, 0, 3), rtol=1e-5)


def test_batch_shapes_and_groups_are_independent_columns():
    rng = np.random.default_rng(1)
    base = 50 + rng.random((4, 30, 1))
    ohlc = np.concatenate([base, base * 1.01, base * 0.99, base], axis=-1)
    full = build_features(ohlc)  # the default set, all: candle 6, swing 6, move 3, position
    assert full.shape == (4, 30, 16) and full.dtype == np.float32
    np.testing.assert_allclose(full[0, :, 15], np.arange(30) / 29)
    candles = build_features(ohlc, feature_set="candle")
    assert candles.shape == (4, 30, 6)
    np.testing.assert_array_equal(candles, full[..., :6])
    swing = build_features(ohlc, feature_set="swing")
    np.testing.assert_array_equal(swing, full[..., 6:12])
    move = build_features(ohlc, feature_set="move")
    np.testing.assert_array_equal(move, full[..., 12:15])
    original = build_features(ohlc, feature_set="original")
    np.testing.assert_array_equal(original, full[..., [*range(12), 15]])


def test_zero_range_bars_never_give_nan():
    ohlc = np.full((2, 25, 4), 42.0)
    f = build_features(ohlc, feature_set="all")
    assert np.isfinite(f).all()
    np.testing.assert_array_equal(f[..., 0:2], 0.5)
    np.testing.assert_array_equal(f[..., 2:6], 0.0)
    # Constant prices: no swing ever (distance 0, bars_since at the cap 3 after warm-up),
    # no trend, the tightest consolidation (3), and no move.
    after = f[:, 15:]
    np.testing.assert_array_equal(after[..., 6:8], 0.0)
    np.testing.assert_array_equal(after[..., 8:10], 3.0)
    np.testing.assert_array_equal(after[..., 10], 0.0)
    np.testing.assert_array_equal(after[..., 11], 3.0)
    np.testing.assert_array_equal(f[..., 12:15], 0.0)
    np.testing.assert_array_equal(f[:, :15, 6:12], 0.0)  # warm-up


@FAST
@given(ohlc=valid_ohlc(), factor=st.floats(1e-3, 1e3))
def test_scale_invariance(ohlc, factor):
    np.testing.assert_allclose(
        build_features(ohlc * factor), build_features(ohlc), rtol=1e-5, atol=1e-6
    )


def test_causality_catches_a_changed_bar():
    # Sanity check of test_swing_features.py::test_every_feature_is_causal: a change at
    # bar j does show up from bar j on.
    ohlc = np.tile(np.array([10.0, 11.0, 9.0, 10.5]), (1, 10, 1))
    changed = ohlc.copy()
    changed[0, 6] = [10.0, 14.0, 9.0, 13.0]
    diff = np.abs(build_features(changed) - build_features(ohlc)).sum(axis=-1)[0]
    assert (diff[:6] == 0).all() and diff[6] > 0 and diff[7] > 0


@pytest.mark.parametrize(
    ("ohlc", "match"),
    [
        (np.ones((5, 3)), r"shape"),
        (np.ones((2, 5, 4, 1)), r"shape"),
        (np.ones((1, 4)), r"at least 2 bars"),
        (np.array([[1.0, 2.0, 0.5, 1.5], [1.0, np.nan, 0.5, 1.5]]), r"row 0, bar 1: has a NaN"),
        (np.array([[1.0, 2.0, 0.5, 1.5], [1.0, 2.0, 0.5, np.inf]]), r"row 0, bar 1"),
        (np.array([[1.0, 2.0, 0.5, 1.5], [1.0, 0.4, 0.5, 0.45]]), r"row 0, bar 1: high < low"),
        (np.array([[1.0, 2.0, 0.5, 2.5], [1.0, 2.0, 0.5, 1.5]]), r"row 0, bar 0: high < max"),
        (
            np.array([[1.0, 2.0, 0.5, 1.5], [-1.0, 2.0, -2.0, 1.5]]),
            r"row 0, bar 1: has a price <= 0",
        ),
    ],
)
def test_bad_input_gives_clear_errors(ohlc, match):
    with pytest.raises(InputValidationError, match=match):
        build_features(ohlc)


def test_bad_span_and_non_numeric_input():
    ohlc = np.array([[1.0, 2.0, 0.5, 1.5]] * 3)
    with pytest.raises(ConfigError, match="ema_span"):
        build_features(ohlc, ema_span=0)
    with pytest.raises(InputValidationError, match="numeric"):
        build_features([["a", "b", "c", "d"]] * 3)
