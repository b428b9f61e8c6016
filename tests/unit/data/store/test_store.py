"""Drawing from a store: inputs, labels, targets built at draw time, dense windows, bad rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moola.data import generate_synthetic
from moola.data.labeling import LabelRule, label_series
from moola.data.signal_free import random_walk_series
from moola.data.store import build_series_store, build_store
from moola.errors import DataValidationError, InputValidationError
from moola.tasks import make_tasks

K = 105


@pytest.fixture(scope="module")
def labelled():
    windows = label_series(random_walk_series(2_000, seed=1), LabelRule(stride=15))
    return windows, build_store(windows)


def test_a_draw_is_the_inputs_and_the_tasks_targets_of_the_labels(labelled):
    windows, store = labelled
    rows = np.array([5, 0, 17, 5])
    tasks = make_tasks()
    x, targets = store.draw(rows, tasks)
    assert x.shape == (4, K, 16) and x.dtype == torch.float32
    assert torch.equal(x, store.inputs(rows))
    expected = tasks.build_targets(
        torch.from_numpy(windows.label[rows]),
        torch.from_numpy(windows.expansion_start[rows]),
        torch.from_numpy(windows.expansion_end[rows]),
        K,
    )
    assert set(targets) == set(expected)
    for name in expected:
        assert torch.equal(targets[name], expected[name]), name
    assert torch.equal(x[0], x[3])  # the same window twice


def test_rows_may_be_tensors_or_masks(labelled):
    windows, store = labelled
    mask = np.zeros(len(windows), dtype=bool)
    mask[[2, 9]] = True
    assert torch.equal(store.inputs(mask), store.inputs(torch.tensor([2, 9])))
    labels = store.labels(torch.tensor([2, 9]))
    assert labels.label.dtype == torch.int64
    assert labels.expansion_end.tolist() == windows.expansion_end[[2, 9]].tolist()


def test_out_of_range_rows_are_named_errors(labelled):
    windows, store = labelled
    with pytest.raises(InputValidationError, match=f"out of range for {len(windows)} windows"):
        store.inputs([len(windows)])


def test_a_window_costs_only_the_bars_it_adds(labelled):
    """Stride 15: 15 new bars per window; the stored row of a bar is 14 float32 + 2 float64
    + its OHLC (4 float64) = 104 bytes: about 1.6 KB per window, whatever K."""
    windows, store = labelled
    per_window = store.nbytes() / len(windows)
    assert store.n_bars == int(windows.start_bar[-1]) + K
    assert per_window < 2_000


def test_dense_windows_cover_every_start_of_every_segment():
    a, b = random_walk_series(300, seed=1), random_walk_series(K + 4, seed=2)
    store = build_series_store([a, b])
    assert store.n_windows == 0 and store.table is None
    dense = store.dense(stride=1)
    assert len(dense) == (300 - K + 1) + 5
    starts = dense.starts(np.arange(len(dense)))
    expected = np.r_[np.arange(300 - K + 1), 300 + np.arange(5)]
    np.testing.assert_array_equal(starts, expected)
    every_third = store.dense(stride=3)
    np.testing.assert_array_equal(
        every_third.starts(np.arange(len(every_third))),
        np.r_[np.arange(0, 300 - K + 1, 3), 300 + np.arange(0, 5, 3)],
    )
    x = store.gather(starts[[0, -1]])
    assert x.shape == (2, K, 16)
    np.testing.assert_array_equal(store.ohlc(starts[[-1]])[0], b[4:])
    with pytest.raises(InputValidationError, match="unlabelled"):
        store.inputs([0])
    with pytest.raises(InputValidationError, match="out of range"):
        dense.starts(np.array([len(dense)]))


def test_a_series_store_names_a_short_or_broken_series():
    with pytest.raises(DataValidationError, match="series 1: has 50 bars"):
        build_series_store([random_walk_series(200, seed=1), random_walk_series(50, seed=1)])
    bad = random_walk_series(300, seed=1)
    bad[123, 1] = bad[123, 2] / 2  # high below low
    with pytest.raises(DataValidationError, match="series 0: row 123"):
        build_series_store([bad])


def test_a_long_series_is_checked_in_blocks_and_errors_name_the_global_row(monkeypatch):
    import moola.data.store.build as build

    monkeypatch.setattr(build, "CHECK_BARS", 128)
    bad = random_walk_series(1_000, seed=1)
    bad[700, 0] = np.nan
    with pytest.raises(DataValidationError, match="series 0: row 700: has a NaN"):
        build_series_store([bad])


def test_the_store_moves_to_a_device_and_gathers_there(labelled):
    _, store = labelled
    before = store.inputs([1, 2])
    moved = build_store(generate_synthetic(n_windows=8, seed=0)).to("cpu")
    assert moved.device == torch.device("cpu")
    assert torch.equal(store.to("cpu").inputs([1, 2]), before)


def test_a_bad_price_in_a_window_is_named_by_its_row_and_bar():
    windows = label_series(random_walk_series(400, seed=1), LabelRule(stride=15))
    windows.ohlc[3, 7, 1] = np.nan  # the bar is shared with other windows, which disagree
    with pytest.raises(DataValidationError, match="row 3, bar 7: has a NaN"):
        build_store(windows)
    windows.ohlc[3, 7, 1] = windows.ohlc[3, 7, 2] / 2  # high below low
    with pytest.raises(DataValidationError, match="row 3, bar 7: high < low"):
        build_store(windows)


def test_window_inputs_keep_features_only():
    """Under window inputs each window is its own series: its OHLC would be K copies of each
    bar, so the store keeps only the stored features (12 float32 per bar for original)."""
    windows = label_series(random_walk_series(600, seed=3), LabelRule(stride=5))
    store = build_store(windows, feature_set="original")
    assert store.bars is None
    assert store.nbytes() == len(windows) * K * 12 * 4 + store.offsets.nbytes + len(windows) * 36
    with pytest.raises(InputValidationError, match="keeps no bars"):
        store.ohlc(store.starts([0]))
    series = build_store(windows)
    np.testing.assert_array_equal(series.ohlc(series.starts([4])), windows.ohlc[[4]])
