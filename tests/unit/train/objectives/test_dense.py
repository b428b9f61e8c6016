"""Pretraining's data: every window of every series, split in time per series and purged, and
the store-backed training part that draws them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moola.data.market import generate_market
from moola.data.store import build_series_store
from moola.errors import ConfigError, DataValidationError
from moola.train.objectives.dense import (
    DensePart,
    corpus_sources,
    dense_split,
    evenly,
    load_corpus,
)

K = 30


def test_sources_are_split_on_the_pool_separator_each_once() -> None:
    assert corpus_sources("synthetic:500| a.csv |synthetic:500") == ["synthetic:500", "a.csv"]
    with pytest.raises(DataValidationError, match="no bar series given"):
        corpus_sources(" | ")


def test_every_window_of_every_series_is_split_in_time_and_purged() -> None:
    a, b = generate_market(400, 1), generate_market(250, 2)
    store = build_series_store([a, b], window=K, notify=lambda m: None)
    parts = dense_split(store, val_fraction=0.2, embargo=3, max_val=10_000)
    segments = [(0, 400), (400, 650)]
    for first, end in segments:
        train = parts.train[(parts.train >= first) & (parts.train < end)]
        val = parts.val[(parts.val >= first) & (parts.val < end)]
        # every bar a window start until the held-out part: consecutive starts (stride 1)
        assert np.array_equal(train, np.arange(first, train[-1] + 1))
        assert np.array_equal(val, np.arange(val[0], end - K + 1))
        # the last 20 % of the series' bars are held out; no training window reaches them,
        # and 3 bars of embargo lie between
        cut = end - round((end - first) * 0.2)
        assert val[0] == cut and train[-1] + K + 3 <= cut
    assert parts.split.info.n_series == 2
    assert parts.split.info.n_train == len(parts.train)


def test_at_most_max_val_held_out_windows_evenly_and_their_overlap_sets_the_blocks() -> None:
    store = build_series_store([generate_market(3000, 0)], window=K, notify=lambda m: None)
    parts = dense_split(store, val_fraction=0.5, embargo=0, max_val=100)
    assert len(parts.val) == 100 and np.all(np.diff(parts.val) > 0)
    spacing = (parts.val[-1] - parts.val[0]) / 99
    assert 14 <= spacing <= 15  # 1471 held-out windows, 100 of them
    assert parts.split.overlap_run == int(np.ceil(K / 14))  # windows sharing bars
    assert evenly(5, 10).tolist() == [0, 1, 2, 3, 4]
    assert evenly(10, 4).tolist() == [0, 3, 6, 9]


def test_a_corpus_too_short_to_split_is_a_named_error() -> None:
    store = build_series_store([generate_market(K + 2, 0)], window=K, notify=lambda m: None)
    with pytest.raises(ConfigError, match=r"leaves 0 training and \d+ validation windows"):
        dense_split(store, val_fraction=0.2, embargo=0)


def test_the_part_draws_a_batch_from_the_store_by_first_bar() -> None:
    corpus = load_corpus("synthetic:600:3", window=K, features="all")
    assert corpus.sources[0]["source"] == "synthetic:600:3" and corpus.sources[0]["bars"] == 600
    assert len(corpus.sources[0]["digest"]) == 64
    starts = np.array([5, 100, 7], dtype=np.int64)
    part = DensePart(torch.empty(0), {}, store=corpus.store, starts=starts)
    assert len(part) == 3
    x, targets = part.take(torch.tensor([2, 0]))
    assert targets == {} and torch.equal(x, corpus.store.gather(np.array([7, 5])))
