"""The window container, its validators, the torch dataset and the seeded split."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from moola.data import (
    CANDLE_FEATURES,
    FEATURE_NAMES,
    MOVE_FEATURES,
    SWING_FEATURES,
    OHLCWindows,
    WindowDataset,
    generate_synthetic,
    train_val_split,
    validate_labels,
    validate_ohlc,
)
from moola.errors import ConfigError, DataValidationError, InputValidationError


@pytest.fixture(scope="module")
def windows() -> OHLCWindows:
    return generate_synthetic(n_windows=40, window=32, seed=2)


# ---------------------------------------------------------------- validators


def test_validate_labels_names_the_first_bad_row():
    label = np.array([0, 1, 2, 1])
    start = np.array([5, 6, 60, 1])
    end = np.array([8, 9, 50, 200])
    with pytest.raises(
        DataValidationError, match=r"^row 2: expansion_start \(60\) > expansion_end \(50\)$"
    ):
        validate_labels(label, start, end, window=105)


@pytest.mark.parametrize(
    ("label", "start", "end", "match"),
    [
        ([0, 3], [1, 1], [2, 2], r"row 1: label \(3\) is outside \[0, 3\)"),
        ([0, -1], [1, 1], [2, 2], r"row 1: label \(-1\)"),
        ([0, 1], [1, -2], [2, 2], r"row 1: expansion_start \(-2\) is negative"),
        ([0, 1], [1, 1], [2, 10], r"row 1: expansion_end \(10\) is past the last bar \(9\)"),
        ([0.0, 1.5], [1, 1], [2, 2], r"row 1: label must be a whole number"),
        ([0, 1], [1.0, float("nan")], [2, 2], r"row 1: expansion_start must be a whole number"),
        ([0, 1, 2], [1, 1], [2, 2], r"same length"),
    ],
)
def test_validate_labels_errors(label, start, end, match):
    with pytest.raises(DataValidationError, match=match):
        validate_labels(np.array(label), np.array(start), np.array(end), window=10)


def test_validate_labels_accepts_tensors_and_is_an_input_error_too():
    label = torch.tensor([0, 2])
    validate_labels(label, torch.tensor([1, 3]), torch.tensor([4, 9]), window=10)
    with pytest.raises(InputValidationError, match=r"sample 1: expansion_end \(10\)"):
        validate_labels(
            label, torch.tensor([1, 3]), torch.tensor([4, 10]), window=10, what="sample"
        )


def test_validate_labels_respects_n_classes():
    validate_labels(np.array([4]), np.array([0]), np.array([1]), window=5, n_classes=5)
    with pytest.raises(DataValidationError, match=r"outside \[0, 2\)"):
        validate_labels(np.array([2]), np.array([0]), np.array([1]), window=5, n_classes=2)


def test_validate_ohlc_names_row_and_bar(windows):
    bad = windows.ohlc.copy()
    bad[7, 11, 2] = bad[7, 11, 0] * 1.5  # low above open
    with pytest.raises(DataValidationError, match=r"row 7, bar 11: (low > min|high < low)") as info:
        validate_ohlc(bad)
    # the location as data too (the model server names the request's window and bar)
    assert (info.value.row, info.value.bar) == (7, 11)
    assert str(info.value) == f"row 7, bar 11: {info.value.problem}"
    with pytest.raises(DataValidationError, match=r"must have 105 bars") as info:
        validate_ohlc(windows.ohlc, window=105)
    assert info.value.row is None and info.value.bar is None


# ---------------------------------------------------------------- OHLCWindows


def test_windows_container_basics(windows):
    assert len(windows) == 40 and windows.window == 32
    assert windows.validate() is windows
    sub = windows.subset(np.array([3, 1]))
    assert len(sub) == 2
    np.testing.assert_array_equal(sub.ohlc[0], windows.ohlc[3])
    np.testing.assert_array_equal(sub.label, windows.label[[3, 1]])
    mask = windows.label == 0
    assert len(windows.subset(mask)) == int(mask.sum())


def test_windows_container_rejects_mismatched_arrays(windows):
    with pytest.raises(DataValidationError, match=r"40 windows but .* 39"):
        OHLCWindows(
            windows.ohlc, windows.label[:-1], windows.expansion_start, windows.expansion_end
        )
    with pytest.raises(DataValidationError, match=r"shape \(N, K, 4\)"):
        OHLCWindows(
            windows.ohlc[..., :3], windows.label, windows.expansion_start, windows.expansion_end
        )
    with pytest.raises(InputValidationError, match=r"out of range"):
        windows.subset(np.array([0, 40]))


def test_windows_validate_names_bad_row(windows):
    end = windows.expansion_end.copy()
    end[12] = windows.expansion_start[12] - 1
    broken = OHLCWindows(windows.ohlc, windows.label, windows.expansion_start, end)
    with pytest.raises(DataValidationError, match=r"^row 12: expansion_start"):
        broken.validate()


# ---------------------------------------------------------------- WindowDataset


def test_dataset_shapes_and_dtypes(windows):
    ds = WindowDataset(windows)
    assert len(ds) == 40 and ds.window == 32 and ds.n_features == len(FEATURE_NAMES) == 16
    assert ds.feature_names == FEATURE_NAMES
    assert ds.x.shape == (40, 32, 16) and ds.x.dtype == torch.float32
    for name in ("label", "expansion_start", "expansion_end"):
        assert getattr(ds, name).shape == (40,) and getattr(ds, name).dtype == torch.int64
    item = ds[5]
    assert set(item) == {"x", "label", "expansion_start", "expansion_end"}
    assert item["x"].shape == (32, 16)
    assert int(item["label"]) == windows.label[5]
    assert int(item["expansion_end"]) == windows.expansion_end[5]
    with pytest.raises(IndexError):
        ds[40]


def test_dataset_batches_through_a_dataloader(windows):
    batch = next(iter(DataLoader(WindowDataset(windows), batch_size=8)))
    assert batch["x"].shape == (8, 32, 16)
    assert batch["label"].shape == (8,) and batch["label"].dtype == torch.int64


def test_dataset_uses_given_features_and_checks_them(windows):
    feats = np.zeros((40, 32, 3), dtype=np.float64)
    ds = WindowDataset(windows, features=feats, feature_names=("a", "b", "c"))
    assert ds.n_features == 3 and ds.x.dtype == torch.float32
    assert ds.feature_names == ("a", "b", "c")
    with pytest.raises(InputValidationError, match=r"shape \(40, 32, F\)"):
        WindowDataset(windows, features=np.zeros((40, 31, 3)), feature_names=("a", "b", "c"))
    with pytest.raises(InputValidationError, match=r"3 columns but 16 feature names"):
        WindowDataset(windows, features=feats)
    feats[4, 6, 1] = np.nan
    with pytest.raises(InputValidationError, match=r"row 4, bar 6"):
        WindowDataset(windows, features=feats, feature_names=("a", "b", "c"))


def test_dataset_feature_sets_name_their_columns(windows):
    ds = WindowDataset(windows, feature_set="position,candle")
    assert ds.feature_names == (*CANDLE_FEATURES, "position")
    assert ds.x.shape == (40, 32, 7)
    full = WindowDataset(windows, feature_set="all")
    assert full.feature_names == (*CANDLE_FEATURES, *SWING_FEATURES, *MOVE_FEATURES, "position")
    np.testing.assert_array_equal(full.x[..., :6].numpy(), ds.x[..., :6].numpy())
    sub = full.subset(np.array([3, 1]))
    assert sub.feature_names == full.feature_names
    with pytest.raises(ConfigError, match=r"unknown feature set or group 'swings'.*valid groups"):
        WindowDataset(windows, feature_set="candle,swings")


def test_dataset_subset_keeps_rows_aligned(windows):
    ds = WindowDataset(windows)
    sub = ds.subset(np.array([9, 2, 30]))
    assert len(sub) == 3
    torch.testing.assert_close(sub.x[0], ds.x[9])
    assert sub.label.tolist() == ds.label[[9, 2, 30]].tolist()
    assert sub.expansion_start.tolist() == ds.expansion_start[[9, 2, 30]].tolist()
    assert len(ds.subset(torch.tensor([1, 2]))) == 2


def test_dataset_rejects_invalid_windows(windows):
    label = windows.label.copy()
    label[3] = 7
    with pytest.raises(DataValidationError, match=r"row 3: label \(7\)"):
        WindowDataset(
            OHLCWindows(windows.ohlc, label, windows.expansion_start, windows.expansion_end)
        )


# ---------------------------------------------------------------- split


def test_split_is_deterministic_disjoint_and_complete():
    train, val = train_val_split(210, val_fraction=0.2, seed=42)
    again_train, again_val = train_val_split(210, val_fraction=0.2, seed=42)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(val, again_val)
    assert len(val) == 42 and len(train) == 168
    assert not set(train) & set(val)
    assert sorted([*train, *val]) == list(range(210))
    other_train, _ = train_val_split(210, val_fraction=0.2, seed=43)
    assert not np.array_equal(train, other_train)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(2, 500), fraction=st.floats(0.01, 0.99), seed=st.integers(0, 2**32 - 1))
def test_split_properties(n, fraction, seed):
    train, val = train_val_split(n, val_fraction=fraction, seed=seed)
    assert len(train) >= 1 and len(val) >= 1
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.union1d(train, val), np.arange(n))


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5, float("nan"), "0.2"])
def test_split_rejects_bad_fractions(fraction):
    with pytest.raises(ConfigError, match="val_fraction"):
        train_val_split(10, val_fraction=fraction)


@pytest.mark.parametrize("n", [0, 1, -3, 2.5])
def test_split_rejects_too_few_windows(n):
    with pytest.raises(ConfigError, match="n"):
        train_val_split(n)
