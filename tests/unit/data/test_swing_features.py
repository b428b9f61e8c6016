"""Swing and move features, feature sets, and the properties every feature must keep.

The zigzag is checked on a hand-made series whose swings can be read off by eye; the
vectorised builder is held bit for bit to the plain per-bar reference loop; hypothesis
checks causality, scale invariance and the documented ranges for every feature.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from moola.data import (
    FEATURE_SETS,
    build_features,
    feature_names,
    generate_synthetic,
    resolve_feature_set,
    validate_ohlc,
)
from moola.data.features.candles import Candles, FeatureSettings
from moola.data.features.swing import ZigzagTrack, swing_features
from moola.data.windows import ohlc_is_valid
from moola.errors import ConfigError, InputValidationError
from tests.helpers.ohlc import ohlc_with_ties, valid_ohlc
from tests.helpers.reference_features import reference_features, reference_window

FAST = settings(max_examples=60, deadline=None)

#: Every feature's documented range (README and module docstrings), written out by hand.
DOCUMENTED_RANGES = {
    "open_norm": (0, 1),
    "close_norm": (0, 1),
    "body_pct": (-1, 1),
    "upper_wick_pct": (0, 1),
    "lower_wick_pct": (0, 1),
    "range_z": (0, 3),
    "dist_to_prev_swing_high": (-3, 3),
    "dist_to_prev_swing_low": (-3, 3),
    "bars_since_swing_high": (0, 3),
    "bars_since_swing_low": (0, 3),
    "expansion_proxy": (-2, 2),
    "consolidation_proxy": (0, 3),
    "move_body": (-3, 3),
    "move_close_change": (-3, 3),
    "move_from_start": (-10, 10),
    "position": (0, 1),
}

# Every bar has range 1 and opens inside the previous bar's range, so each true range is
# 1 and ATR(10) is 1: a swing is confirmed by a move of 1.2. Swings by eye:
#   bar 1: the high 10.8 is 1.3 above bar 0's low 9.5 -> swing LOW 9.5 (bar 0), up leg
#   bars 2-3 extend the up leg to 11.5 (bar 3); bar 4 dips only 1.1 below it
#   bar 5: low 9.9 is 1.6 below 11.5 -> swing HIGH 11.5 (bar 3), down leg
#   bars 6-7 extend the down leg to 9.2 (bar 7)
#   bar 8: high 10.6 is 1.4 above 9.2 -> swing LOW 9.2 (bar 7), up leg; bar 9 extends to 10.7
#   bar 10: low 9.3 is 1.4 below 10.7 -> swing HIGH 10.7 (bar 9), down leg
ZIGZAG = np.array(
    [
        [10.0, 10.5, 9.5, 10.0],
        [10.0, 10.8, 9.8, 10.6],
        [10.6, 11.2, 10.2, 11.0],
        [11.0, 11.5, 10.5, 11.2],
        [11.2, 11.4, 10.4, 10.5],
        [10.5, 10.9, 9.9, 10.0],
        [10.0, 10.3, 9.3, 9.4],
        [9.4, 10.2, 9.2, 10.1],
        [10.1, 10.6, 9.6, 10.5],
        [10.5, 10.7, 9.7, 9.8],
        [9.8, 10.3, 9.3, 10.0],
    ]
)
NO_WARMUP = FeatureSettings(warmup=0)


def _track(ohlc: np.ndarray, config: FeatureSettings = NO_WARMUP) -> ZigzagTrack:
    return ZigzagTrack(Candles.from_ohlc(ohlc[None]), config)


def test_hand_made_series_has_unit_atr():
    atr = Candles.from_ohlc(ZIGZAG[None]).atr(10)[:, 0]
    np.testing.assert_allclose(atr, 1.0, rtol=1e-12)


def test_zigzag_confirms_the_swings_seen_by_eye():
    track = _track(ZIGZAG)
    assert track.leg[:, 0].tolist() == [0, 1, 1, 1, 1, -1, -1, -1, 1, 1, -1]
    inf = float("-inf")
    assert track.high_bar[:, 0].tolist() == [inf] * 5 + [3, 3, 3, 3, 3, 9]
    assert track.low_bar[:, 0].tolist() == [inf, 0, 0, 0, 0, 0, 0, 0, 7, 7, 7]
    assert track.high_price[5, 0] == 11.5 and track.low_price[8, 0] == 9.2
    assert np.isnan(track.high_price[:5, 0]).all()


def test_swing_features_on_the_hand_made_series():
    cols = swing_features(Candles.from_ohlc(ZIGZAG[None]), NO_WARMUP)
    dist_hi, dist_lo, since_hi, since_lo, expansion, consolidation = (c[:, 0] for c in cols)
    # no swing high before bar 5: distance 0, bars_since at the cap
    np.testing.assert_array_equal(dist_hi[:5], 0.0)
    np.testing.assert_array_equal(since_hi[:5], 3.0)
    assert dist_hi[5] == pytest.approx(10.0 - 11.5)  # close 10.0, swing high 11.5, ATR 1
    assert since_hi[5] == pytest.approx((5 - 3) / 105)
    assert dist_hi[10] == pytest.approx(10.0 - 10.7)
    assert since_hi[10] == pytest.approx((10 - 9) / 105)
    assert dist_lo[0] == 0.0 and since_lo[0] == 3.0
    assert dist_lo[1] == pytest.approx(10.6 - 9.5)
    assert since_lo[4] == pytest.approx(4 / 105)
    assert dist_lo[8] == pytest.approx(10.5 - 9.2)
    # expansion: range_z 1 (every range is 1) x leg x body. Bar 6 is a down bar (body
    # -0.6) in a down leg: +0.6. Bar 2 is an up bar (+0.4) in an up leg: +0.4. Bar 9 is a
    # down bar (-0.7) in an up leg: -0.7. Bar 0 has no leg yet: 0.
    assert expansion[6] == pytest.approx(0.6)
    assert expansion[2] == pytest.approx(0.4)
    assert expansion[9] == pytest.approx(-0.7)
    assert expansion[0] == 0.0
    # consolidation at bar 10: bars 1..10 span 9.2..11.5, so sqrt(10) * 1 / 2.3
    assert consolidation[10] == pytest.approx(math.sqrt(10) / 2.3)
    # at bar 0 the width is bar 0's range 1: sqrt(10), clipped to 3
    assert consolidation[0] == 3.0


def test_reference_agrees_on_the_hand_made_series():
    values = reference_window(ZIGZAG, NO_WARMUP)
    cols = swing_features(Candles.from_ohlc(ZIGZAG[None]), NO_WARMUP)
    names = ["dist_to_prev_swing_high", "dist_to_prev_swing_low", "bars_since_swing_high"]
    names += ["bars_since_swing_low", "expansion_proxy", "consolidation_proxy"]
    for name, col in zip(names, cols):
        np.testing.assert_array_equal(col[:, 0], np.array(values[name]), err_msg=name)


def test_an_extending_bar_never_reverses_and_a_small_dip_does_not_confirm():
    track = _track(ZIGZAG[:5])
    # bar 4 dips 1.1 < 1.2 below the candidate high: still an up leg, no swing high
    assert track.leg[4, 0] == 1 and track.high_bar[4, 0] == -np.inf
    # bar 7 makes a lower low (extends) although its high is 1.0 above it: no swing low yet
    track = _track(ZIGZAG[:8])
    assert track.leg[7, 0] == -1 and track.low_bar[7, 0] == 0


def test_a_move_of_exactly_the_threshold_confirms():
    # ranges of 1; bar 1's high is exactly 1.2 above bar 0's low (prices on a 0.1 grid)
    ohlc = np.array([[10.0, 10.5, 9.5, 10.0], [10.0, 10.7, 9.7, 10.5]])
    atr = Candles.from_ohlc(ohlc[None]).atr(10)[:, 0]
    assert abs((10.7 - 9.5) - 1.2 * atr[1]) < 1e-12  # the move is 1.2 ATR up to rounding
    assert _track(ohlc).low_bar[1, 0] == 0


def test_warm_up_bars_are_zero_and_swings_from_the_warm_up_count_later():
    ohlc = np.concatenate([ZIGZAG, np.tile(ZIGZAG[-1], (10, 1))])
    f = build_features(ohlc, feature_set="swing")
    np.testing.assert_array_equal(f[:15], 0.0)
    # bar 15: the last swing high is still bar 9's 10.7 (flat bars since), close 10.0
    assert f[15, 2] == pytest.approx((15 - 9) / 105)
    assert f[15, 0] < 0


def test_move_features_hand_worked():
    ohlc = np.array(
        [
            [10.0, 12.0, 8.0, 11.0],  # range 4
            [11.0, 11.0, 5.0, 6.0],  # range 6
            [7.0, 7.0, 7.0, 7.0],  # range 0
        ]
    )
    f = build_features(ohlc, feature_set="move")
    e1 = 4 + (2 / 21) * (6 - 4)  # EMA-20 of the range: 88/21
    e2 = (19 / 21) * e1
    expected = np.array(
        [
            [1 / 4, 0.0, 0.0],
            [-5 / e1, -5 / e1, -5 / e1],
            [0.0, 1 / e2, -4 / e2],
        ]
    )
    np.testing.assert_allclose(f, expected, rtol=1e-6)


def test_move_features_clip_and_a_zero_unit_gives_the_bound():
    # flat bars that gap: every range is 0, so the unit is 0 while closes still move
    ohlc = np.array([[10.0] * 4, [11.0] * 4, [9.0] * 4])
    f = build_features(ohlc, feature_set="move")
    np.testing.assert_array_equal(f[:, 0], 0.0)  # no body
    np.testing.assert_array_equal(f[:, 1], [0.0, 3.0, -3.0])
    np.testing.assert_array_equal(f[:, 2], [0.0, 10.0, -10.0])
    # a huge bar after tiny ones: body clipped to 3 range units
    ohlc = np.array([[10.0, 10.01, 9.99, 10.0]] * 5 + [[10.0, 20.0, 10.0, 20.0]])
    assert build_features(ohlc, feature_set="move")[-1, 0] == 3.0


# ---------------------------------------------------------------- feature sets


def test_feature_sets_resolve_in_registry_order():
    assert resolve_feature_set("original") == ("candle", "swing", "position")
    assert resolve_feature_set("all") == ("candle", "swing", "move", "position")
    assert resolve_feature_set("position, move,candle") == ("candle", "move", "position")
    assert len(feature_names("original")) == 13 and len(feature_names("all")) == 16
    assert feature_names("candle,swing,move,position") == feature_names("all")
    assert set(FEATURE_SETS) == {"original", "all"}


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("bogus", r"unknown feature set or group 'bogus'; valid sets: original, all; valid groups"),
        ("candle,swings", r"'swings'"),
        ("candle,,swing", r"''"),
        ("", r"unknown feature set"),
        ("candle,candle", r"named twice: candle"),
        ("original,move", r"'original'"),
    ],
)
def test_bad_feature_sets_list_the_valid_names(spec, match):
    with pytest.raises(ConfigError, match=match):
        build_features(ZIGZAG, feature_set=spec)


# ---------------------------------------------------------------- reference implementation


def _eurusd_windows() -> np.ndarray | None:
    spec = importlib.util.find_spec("backtesting")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "test" / "EURUSD.csv"
    if not path.is_file():
        return None
    bars = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(1, 2, 3, 4), max_rows=400)
    return np.lib.stride_tricks.sliding_window_view(bars, (105, 4))[::7, 0]


@pytest.mark.parametrize("threaded", [True, False], ids=["zigzag-in-a-thread", "one-thread"])
def test_vectorised_equals_reference_exactly_on_synthetic_and_real_bars(threaded: bool):
    synthetic = generate_synthetic(n_windows=40, seed=5).ohlc
    np.testing.assert_array_equal(
        build_features(synthetic, feature_set="all", threaded=threaded),
        reference_features(synthetic),
    )
    real = _eurusd_windows()
    if real is None:
        pytest.skip("backtesting's EURUSD.csv is not installed")
    np.testing.assert_array_equal(
        build_features(real, feature_set="all", threaded=threaded), reference_features(real)
    )


def test_an_error_in_the_background_zigzag_reaches_the_caller(monkeypatch: pytest.MonkeyPatch):
    class BrokenZigzag:
        def __init__(self, candles: Candles, config: FeatureSettings) -> None:
            raise RuntimeError("zigzag failed")

    monkeypatch.setattr("moola.data.features.swing.ZigzagTrack", BrokenZigzag)
    with pytest.raises(RuntimeError, match="zigzag failed"):
        build_features(ZIGZAG, feature_set="swing", threaded=True)


def test_the_zigzag_thread_ends_with_the_build():
    before = {thread.ident for thread in threading.enumerate()}
    build_features(np.concatenate([ZIGZAG] * 3), feature_set="original")
    started = [t for t in threading.enumerate() if t.ident not in before]
    assert all(t.name.startswith("moola-zigzag") for t in started)
    for thread in started:  # it may still be returning from the finished zigzag
        thread.join(timeout=10)
        assert not thread.is_alive(), "the zigzag's thread outlived the build"


def test_vectorised_equals_reference_exactly_on_hand_made_series():
    flat = np.full((20, 4), 5.0)
    for ohlc in (ZIGZAG, np.concatenate([ZIGZAG] * 3), flat, np.concatenate([flat, ZIGZAG * 0.5])):
        np.testing.assert_array_equal(
            build_features(ohlc[None], feature_set="all"), reference_features(ohlc[None])
        )


# ---------------------------------------------------------------- properties


@FAST
@given(ohlc=ohlc_with_ties())
def test_every_feature_is_in_its_documented_range_and_never_nan(ohlc):
    f = build_features(ohlc, feature_set="all")
    assert np.isfinite(f).all()
    for j, name in enumerate(feature_names("all")):
        lo, hi = DOCUMENTED_RANGES[name]
        assert f[..., j].min() >= lo and f[..., j].max() <= hi, name


@FAST
@given(ohlc=ohlc_with_ties(), factor=st.floats(1e-3, 1e3))
def test_every_feature_is_scale_invariant(ohlc, factor):
    np.testing.assert_allclose(
        build_features(ohlc * factor, feature_set="all"),
        build_features(ohlc, feature_set="all"),
        rtol=1e-5,
        atol=1e-5,
    )


@settings(max_examples=110, deadline=None)  # the 60 + 50 of the two tests it replaces
@given(data=st.data())
def test_every_feature_is_causal(data):
    """Changing bars j.. leaves every feature of bars ..j-1 bit for bit the same.

    Draws from both strategies (and mixes them): distinct prices and heavy ties.
    """
    ohlc = data.draw(st.one_of(valid_ohlc(), ohlc_with_ties()))
    n, k = ohlc.shape[:2]
    other = data.draw(st.one_of(valid_ohlc(n=n, k=k), ohlc_with_ties(n=n, k=k)))
    j = data.draw(st.integers(0, ohlc.shape[1] - 1))
    changed = ohlc.copy()
    changed[:, j:] = other[:, j:]
    before = build_features(ohlc, feature_set="all")
    after = build_features(changed, feature_set="all")
    np.testing.assert_array_equal(after[:, :j], before[:, :j])


@FAST
@given(ohlc=ohlc_with_ties())
def test_vectorised_equals_reference_exactly(ohlc):
    np.testing.assert_array_equal(build_features(ohlc, feature_set="all"), reference_features(ohlc))


def test_causality_check_can_fail_on_swing_features():
    # A later bar that confirms a swing changes the swing features from that bar on.
    ohlc = np.concatenate([np.tile(ZIGZAG, (2, 1))])
    changed = ohlc.copy()
    changed[18] = [9.0, 9.1, 5.0, 5.1]  # a crash at bar 18
    diff = np.abs(
        build_features(changed, feature_set="swing") - build_features(ohlc, feature_set="swing")
    )
    assert diff[:18].max() == 0 and diff[18:].max() > 0


# ---------------------------------------------------------------- fast validation


@FAST
@given(
    ohlc=hnp.arrays(
        np.float64,
        (2, 5, 4),
        elements=st.sampled_from([-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, np.nan, np.inf, -np.inf]),
    )
)
def test_fast_validity_check_agrees_with_the_detailed_checks(ohlc):
    o, h, lo, c = (ohlc[..., i] for i in range(4))
    with np.errstate(invalid="ignore"):
        valid = bool(
            np.isfinite(ohlc).all()
            and (ohlc > 0).all()
            and (h >= lo).all()
            and (h >= np.maximum(o, c)).all()
            and (lo <= np.minimum(o, c)).all()
        )
    assert ohlc_is_valid(o, h, lo, c) == valid
    if valid:
        validate_ohlc(ohlc)
    else:
        with pytest.raises(InputValidationError, match=r"row \d+, bar \d+"):
            validate_ohlc(ohlc)
