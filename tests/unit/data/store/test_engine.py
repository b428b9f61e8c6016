"""The store's feature engine against the window builder and the plain per-bar reference.

A series' per-bar features are, by definition, the builder's features of the series taken
as one window (README, "Inputs: per series or per window"). The engine computes them in
bounded memory (scanned recursions, blocks with a lead-in); these tests hold it to that
definition bit for bit, on random walks and on bars with flats, ties and a price grid, with
block sizes small enough that every seam between blocks is exercised.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moola.data import build_features, generate_synthetic
from moola.data.features.candles import Candles, FeatureSettings
from moola.data.signal_free import random_walk_series
from moola.data.store.engine import featurise, featurise_windows, series_blocks
from moola.data.store.plan import ColumnPlan
from moola.data.store.scan import ScanState, scan
from tests.helpers.ohlc import ohlc_with_ties
from tests.helpers.reference_features import reference_features

FAST = settings(max_examples=40, deadline=None)


def engine(bars: np.ndarray, feature_set: str, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    plan = ColumnPlan.of(feature_set)
    block = np.full((len(bars), len(plan.stored)), np.nan, dtype=np.float32)
    ema = np.full(len(bars), np.nan)
    covered = 0
    for a, b, columns, block_ema in series_blocks(bars, plan, FeatureSettings(), chunk=chunk):
        assert a == covered  # blocks come in order, each right after the last
        block[a:b], ema[a:b], covered = columns, block_ema, b
    assert covered == len(bars)
    return block, ema


def as_one_window(bars: np.ndarray, feature_set: str) -> tuple[np.ndarray, np.ndarray]:
    """The definition: the builder on the whole series as one window, stored columns only."""
    plan = ColumnPlan.of(feature_set)
    full = build_features(bars[None], feature_set=feature_set, threaded=False)[0]
    ema = Candles.from_ohlc(bars[None]).range_ema(FeatureSettings().ema_span)[:, 0]
    return full[:, list(plan.stored_at)], ema


@pytest.mark.parametrize("chunk", [15, 64, 1 << 16])
@pytest.mark.parametrize("feature_set", ["all", "original", "candle,move"])
def test_series_features_are_the_builders_on_the_whole_series(feature_set, chunk):
    bars = random_walk_series(1_500, seed=4)
    block, ema = engine(bars, feature_set, chunk)
    expected, expected_ema = as_one_window(bars, feature_set)
    assert np.array_equal(block, expected)
    assert np.array_equal(ema, expected_ema)


@FAST
@given(ohlc_with_ties(n=1), st.sampled_from([15, 16, 23]))
def test_series_features_match_the_per_bar_reference_with_ties_and_flats(ohlc, chunk):
    bars = ohlc[0]
    if len(bars) < 2:
        return
    plan = ColumnPlan.of("all")
    block, _ = engine(bars, "all", chunk)
    reference = reference_features(ohlc, "all")[0][:, list(plan.stored_at)]
    assert np.array_equal(block, reference)


def test_scan_carries_its_state_across_blocks():
    """Scanning in two blocks gives the rows of one scan, and the same final state."""
    bars = random_walk_series(400, seed=9)
    whole_state, split_state = ScanState(), ScanState()
    whole = scan(bars, whole_state, FeatureSettings())
    first = scan(bars[:137], split_state, FeatureSettings())
    second = scan(bars[137:], split_state, FeatureSettings())
    for name in ("ema", "atr", "leg", "high_price", "high_bar", "low_price", "low_bar"):
        joined = np.concatenate([getattr(first, name), getattr(second, name)])
        assert np.array_equal(joined, getattr(whole, name), equal_nan=True), name
    assert whole_state == split_state


def test_scan_finds_swings_on_a_real_looking_series():
    """The zigzag confirms swings of both kinds (the comparison above is not vacuous)."""
    rows = scan(random_walk_series(400, seed=9), ScanState(), FeatureSettings())
    assert np.isfinite(rows.high_price).mean() > 0.8 and np.isfinite(rows.low_price).mean() > 0.8
    assert set(np.unique(rows.leg)) == {-1.0, 0.0, 1.0}


@pytest.mark.parametrize("feature_set", ["all", "original"])
def test_equal_length_series_take_the_builders_path_with_its_numbers(feature_set):
    ohlc = generate_synthetic(n_windows=40, seed=1).ohlc
    plan = ColumnPlan.of(feature_set)
    block, ema = featurise_windows(ohlc, plan, FeatureSettings())
    expected = build_features(ohlc, feature_set=feature_set)[:, :, list(plan.stored_at)]
    assert np.array_equal(block, expected)
    assert (ema is None) == (not plan.needs_ema)
    one_by_one = np.stack([engine(w, feature_set, 64)[0] for w in ohlc[:5]])
    assert np.array_equal(block[:5], one_by_one)


def test_featurise_sends_each_segment_down_either_path_with_the_same_numbers():
    """20 segments of one length take the builder's path, 3 others are scanned; every
    segment's rows are the builder's features of that segment as one window."""
    lengths = [105] * 20 + [300, 150, 106]
    bars = np.concatenate([random_walk_series(n, seed=i) for i, n in enumerate(lengths)])
    offsets = np.r_[0, np.cumsum(lengths)]
    plan = ColumnPlan.of("all")
    block = np.full((len(bars), len(plan.stored)), np.nan, dtype=np.float32)
    anchors = np.full((len(bars), 2), np.nan)
    featurise(bars, offsets, plan, FeatureSettings(), block, anchors)
    for a, b in itertools.pairwise(offsets):
        expected, ema = as_one_window(bars[a:b], "all")
        assert np.array_equal(block[a:b], expected)
        assert np.array_equal(anchors[a:b], np.stack([bars[a:b, 3], ema], axis=1))
