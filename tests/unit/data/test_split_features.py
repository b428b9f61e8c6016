"""Chunked featurisation into the splits gives exactly what featurising all windows at once
and slicing gives: the same float32 rows in each split and the same data fingerprint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moola.data import WindowDataset
from moola.data.fingerprint import data_fingerprint
from moola.data.signal_free import SignalFreeConfig, generate_signal_free
from moola.data.split_features import split_features
from moola.errors import InputValidationError
from moola.seeding import numpy_generator


@pytest.fixture(scope="module")
def windows():
    return generate_signal_free(SignalFreeConfig(n_bars=1500, seed=3))


@pytest.mark.parametrize("chunk", [7, 64, 10_000])
@pytest.mark.parametrize("feature_set", ["all", "original"])
def test_chunks_match_the_whole_data_set(windows, chunk: int, feature_set: str) -> None:
    n = len(windows)
    order = numpy_generator(5, 0).permutation(n)
    train_idx, val_idx = order[: n // 2], np.sort(order[n // 2 : n - 3])  # 3 rows in neither
    whole = WindowDataset(windows, feature_set=feature_set)
    got = split_features(windows, train_idx, val_idx, feature_set=feature_set, chunk=chunk)
    assert torch.equal(got.x_train, whole.x[train_idx])
    assert torch.equal(got.x_val, whole.x[val_idx])
    assert got.x_train.dtype == torch.float32
    assert got.feature_names == whole.feature_names
    assert got.fingerprint == data_fingerprint(whole)


def test_a_non_finite_feature_names_its_global_row(windows, monkeypatch) -> None:
    import moola.data.split_features as module

    real = module.build_features

    def poisoned(ohlc: np.ndarray, **kwargs: object) -> np.ndarray:
        out = real(ohlc, **kwargs)
        out[1, 2, 3] = np.nan  # row 1 of every chunk
        return out

    monkeypatch.setattr(module, "build_features", poisoned)
    idx = np.arange(len(windows))
    with pytest.raises(InputValidationError, match=r"^row 1, bar 2: feature 3 is not finite"):
        split_features(windows, idx, idx[:0], feature_set="all", chunk=10)
