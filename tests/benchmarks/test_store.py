"""Series-store benchmarks (pytest-benchmark): the feature build as a user gets it, and a draw.

The data is test_features.py's: 2,000 consecutive hourly EURUSD bars (or its seeded random
walk) cut with stride 1 into 1,896 windows of 105 bars, with ``start_bar``, as
``moola label --stride 1`` gives them. What is timed:

- ``build_store(windows)``: checking the windows, laying them onto their series (each bar
  once), the per-bar features of the 2,000 bars (``series`` inputs, the default of ``all``),
  and the window table: everything before the first batch can be drawn. ``original`` uses
  ``window`` inputs (the original's per-window features): the builder's work plus the layout.
- ``build_series_store([bars])``: the same bars as an unlabelled series (pretraining).
- ``corpus_of_windows(windows)``: what ``moola train`` makes of those windows before its
  first step (their timeline and their store); ``corpus_of_bars(bars, stride 1)``: what it
  makes of the 2,000 bars themselves (``--data bars.csv --stride 1``: the windows cut and
  labelled on the fly, then their store).
- ``store.draw(rows, tasks)``: one batch of inputs and targets, beside the train step's
  ~24 ms at batch 32 (BENCHMARKS.md); ``part.take(idx)``: the same as training draws it
  (the training part of a run, :class:`moola.train.objectives.labelled.LabelledPart`).

Groups: ``store``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moola.data import OHLCWindows
from moola.data.corpus import corpus_of_bars, corpus_of_windows
from moola.data.labeling import LabelRule
from moola.data.store import build_series_store, build_store
from moola.tasks import make_tasks
from moola.train.objectives.labelled import LabelledPart
from tests.benchmarks.test_features import BARS, SOURCE, WINDOWS


def stride_one_windows() -> OHLCWindows:
    n = len(WINDOWS)
    return OHLCWindows(
        ohlc=WINDOWS,
        label=np.arange(n) % 3,
        expansion_start=np.full(n, 10),
        expansion_end=np.full(n, 20),
        start_bar=np.arange(n),
    )


LABELLED = stride_one_windows()


@pytest.mark.benchmark(group="store")
@pytest.mark.parametrize("feature_set", ["all", "original"])
def test_build_store(benchmark, bench_malloc, feature_set):
    benchmark.extra_info.update(source=SOURCE, windows=len(WINDOWS), malloc=bench_malloc)
    store = benchmark(build_store, LABELLED, feature_set=feature_set)
    assert store.n_windows == 1_896
    assert store.n_bars == (2_000 if feature_set == "all" else 1_896 * 105)


@pytest.mark.benchmark(group="store")
def test_build_series_store(benchmark, bench_malloc):
    benchmark.extra_info.update(source=SOURCE, bars=len(BARS), malloc=bench_malloc)
    store = benchmark(build_series_store, [BARS])
    assert len(store.dense(1)) == 1_896


@pytest.mark.benchmark(group="store")
@pytest.mark.parametrize("batch", [32, 256])
def test_draw(benchmark, bench_malloc, batch):
    store = build_store(LABELLED)
    tasks = make_tasks()
    rows = np.random.default_rng(0).permutation(store.n_windows)[:batch]
    benchmark.extra_info.update(source=SOURCE, batch=batch, malloc=bench_malloc)
    x, targets = benchmark(store.draw, rows, tasks)
    assert x.shape == (batch, 105, 16) and targets["countdown"].shape == (batch, 105)


@pytest.mark.benchmark(group="store")
def test_corpus_of_windows(benchmark, bench_malloc):
    benchmark.extra_info.update(source=SOURCE, windows=len(WINDOWS), malloc=bench_malloc)
    corpus = benchmark(corpus_of_windows, LABELLED)
    assert len(corpus) == 1_896 and corpus.store.n_bars == 2_000


@pytest.mark.benchmark(group="store")
def test_corpus_of_bars(benchmark, bench_malloc):
    benchmark.extra_info.update(source=SOURCE, bars=len(BARS), malloc=bench_malloc)
    corpus = benchmark(corpus_of_bars, BARS, LabelRule(stride=1))
    assert len(corpus) == 1_896 and corpus.timeline.kind == "start_bar"


@pytest.mark.benchmark(group="store")
@pytest.mark.parametrize("batch", [32, 256])
def test_part_take(benchmark, bench_malloc, batch):
    corpus = corpus_of_windows(LABELLED)
    part = LabelledPart(corpus, np.arange(len(corpus)), make_tasks())
    idx = torch.randperm(len(part), generator=torch.Generator().manual_seed(0))[:batch]
    benchmark.extra_info.update(source=SOURCE, batch=batch, malloc=bench_malloc)
    x, targets = benchmark(part.take, idx)
    assert x.shape == (batch, 105, 16) and targets["binary"].shape == (batch, 105)
