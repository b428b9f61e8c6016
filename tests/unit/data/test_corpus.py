"""A run's corpus: the same windows, inputs, labels and fingerprint whichever way a source
arrives (bars labelled on the fly, ``moola label``'s file laid out batch by batch, windows in
memory), the legacy fingerprint of checkpoints made before the store, and subsets that
split as the windows alone would."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from moola.data import WindowDataset, generate_synthetic, save_parquet
from moola.data.corpus import (
    corpus_of_bars,
    corpus_of_file,
    corpus_of_windows,
    covered_bars,
    load_corpus,
)
from moola.data.fingerprint import data_fingerprint
from moola.data.labeling import LabelRule, label_series
from moola.data.seen import record_bars
from moola.data.signal_free import random_walk_series
from moola.data.splits import choose_split, split_timeline
from moola.data.store import stream
from moola.errors import DataValidationError

K = 40
RULE = LabelRule(window=K, stride=3, min_length=3, max_length=10, aftermath=10)


def all_inputs(corpus) -> torch.Tensor:  # type: ignore[no-untyped-def]
    return corpus.store.gather(corpus.starts())


def test_bars_labelled_on_the_fly_are_moola_labels_file_input_for_input(tmp_path: Path) -> None:
    """``--data bars --stride S`` and ``moola label bars --stride S`` then ``--data file``: the
    same windows, labels, inputs and fingerprint; the file is laid onto its series batch by
    batch (tiny batches here), the same store as laying it out in memory."""
    pytest.importorskip("pyarrow")
    bars = random_walk_series(2000, seed=4)
    windows = label_series(bars, RULE)
    path = tmp_path / "windows.parquet"
    save_parquet(windows, path)
    on_the_fly = corpus_of_bars(bars, RULE)
    from_file = corpus_of_file(path, window=K, cache=False)
    in_memory = corpus_of_windows(windows)
    assert len(on_the_fly) == len(from_file) == len(windows)
    for corpus in (from_file, in_memory):
        np.testing.assert_array_equal(corpus.labels(), on_the_fly.labels())
        np.testing.assert_array_equal(corpus.timeline.start_bar, windows.start_bar)
        assert torch.equal(all_inputs(corpus), all_inputs(on_the_fly))
        assert corpus.fingerprint == on_the_fly.fingerprint
    assert on_the_fly.store.n_bars == int(windows.start_bar[-1]) + K  # each bar once


def test_the_streamed_layout_reads_a_few_windows_at_a_time(tmp_path, monkeypatch) -> None:
    pytest.importorskip("pyarrow")
    import moola.data.files as files

    windows = label_series(random_walk_series(900, seed=2), RULE)
    path = tmp_path / "w.parquet"
    save_parquet(windows, path)
    seen: list[int] = []
    real = files._read_features_column

    def spy(column, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(len(column))
        return real(column, *args, **kwargs)

    monkeypatch.setattr(files, "_read_features_column", spy)
    monkeypatch.setattr(files, "READ_BATCH_ROWS", 50)
    laid = stream.lay_windows_file(path, K)
    assert laid is not None and max(seen) <= 50 and sum(seen) == len(windows)
    assert np.array_equal(laid[1], random_walk_series(900, seed=2)[: laid[0].n_bars])


def test_a_file_whose_windows_disagree_with_their_start_bar_is_laid_out_in_memory(
    tmp_path: Path,
) -> None:
    """A window whose bars differ from its series' is not trusted to share: the streamed
    layout gives up, and the in-memory one sets the window apart, as for windows given."""
    pytest.importorskip("pyarrow")
    windows = label_series(random_walk_series(600, seed=3), RULE)
    ohlc = windows.ohlc.copy()
    ohlc[5, 10:] *= 1.01  # row 5 no longer agrees with rows 4 and 6 on its later bars
    bad = type(windows)(
        ohlc, windows.label, windows.expansion_start, windows.expansion_end, windows.start_bar
    )
    path = tmp_path / "w.parquet"
    save_parquet(bad, path)
    assert stream.lay_windows_file(path, K) is None
    corpus = corpus_of_file(path, window=K, cache=False)
    assert corpus.store.info.conflicts >= 1
    assert torch.equal(all_inputs(corpus), all_inputs(corpus_of_windows(bad)))


def test_the_legacy_fingerprint_is_the_old_per_window_fingerprint() -> None:
    """Checkpoints made before the store hashed every window's per-window inputs: windows
    that share no bars give those inputs either way, so an old run on them resumes."""
    windows = generate_synthetic(n_windows=60, seed=1)
    old = data_fingerprint(WindowDataset(windows))
    assert corpus_of_windows(windows).legacy_fingerprint() == old
    assert corpus_of_windows(windows, inputs="window").legacy_fingerprint() == old
    series = label_series(random_walk_series(1500, seed=1), LabelRule(window=K, stride=5))
    old = data_fingerprint(WindowDataset(series))
    assert corpus_of_windows(series, inputs="window").legacy_fingerprint() == old
    assert corpus_of_windows(series).legacy_fingerprint() != old  # series inputs differ


def test_the_split_of_a_corpus_is_the_split_of_its_windows() -> None:
    """The timeline is detected once (pre-cut windows without start_bar); the split made on
    it is choose_split's on the windows."""
    series = label_series(random_walk_series(1200, seed=6), LabelRule(window=K, stride=4))
    shuffled = series.subset(np.random.default_rng(0).permutation(len(series)))
    pre_cut = type(series)(
        shuffled.ohlc, shuffled.label, shuffled.expansion_start, shuffled.expansion_end
    )
    for windows in (series, pre_cut, generate_synthetic(n_windows=50, seed=2)):
        corpus = corpus_of_windows(windows)
        got = split_timeline(corpus.timeline, val_fraction=0.25, seed=3, embargo=2)
        want = choose_split(windows, val_fraction=0.25, seed=3, embargo=2)
        np.testing.assert_array_equal(got.train, want.train)
        np.testing.assert_array_equal(got.val, want.val)
        np.testing.assert_array_equal(got.val_order, want.val_order)
        assert got.info == want.info and got.overlap_run == want.overlap_run


def test_a_subset_splits_as_its_windows_alone_would() -> None:
    """A fold's training part is a subset of the corpus: its detected timeline renumbered
    and re-based, so its inner split is the split of those windows given alone."""
    series = label_series(random_walk_series(1500, seed=8), LabelRule(window=K, stride=4))
    pre_cut = type(series)(series.ohlc, series.label, series.expansion_start, series.expansion_end)
    corpus = corpus_of_windows(pre_cut)
    part = np.arange(20, 200)
    got = split_timeline(corpus.subset(part).timeline, val_fraction=0.2, seed=1)
    want = choose_split(pre_cut.subset(part), val_fraction=0.2, seed=1)
    np.testing.assert_array_equal(got.train, want.train)
    np.testing.assert_array_equal(got.val_order, want.val_order)
    assert got.info == want.info
    sub = corpus.subset(part)
    np.testing.assert_array_equal(sub.labels(), corpus.labels(part))
    assert torch.equal(all_inputs(sub), all_inputs(corpus)[part])
    assert sub.fingerprint != corpus.fingerprint


def test_sources_take_a_stride_and_bad_ones_name_the_problem(tmp_path: Path) -> None:
    dense = load_corpus("synthetic:3000:2", window=K, stride=1)
    sparse = load_corpus("synthetic:3000:2", window=K, stride=15)
    assert len(dense) == 3000 - K + 1 and len(sparse) == (3000 - K) // 15 + 1
    assert dense.store.n_bars == 3000 and sparse.store.n_bars == (len(sparse) - 1) * 15 + K
    bars = tmp_path / "bars.csv"
    np.savetxt(bars, random_walk_series(500, seed=1), delimiter=",", header="open,high,low,close")
    bars.write_text(bars.read_text().replace("# ", ""))
    assert len(load_corpus(bars, window=K, stride=2)) == (500 - K) // 2 + 1
    with pytest.raises(DataValidationError, match="does not exist; accepted sources"):
        load_corpus(tmp_path / "missing.parquet")
    sheet = tmp_path / "bars.xlsx"
    sheet.write_bytes(b"PK")
    with pytest.raises(DataValidationError, match=r"don.t know how to load .*bars\.xlsx"):
        load_corpus(sheet)


@pytest.mark.parametrize("inputs", ["series", "window"])
def test_the_bars_a_corpus_records_as_seen_are_its_windows_bars(inputs: str) -> None:
    """``judging.pt``'s seen bars of a run on the store: the hashes of the bars of the chosen
    windows, as :func:`moola.data.seen.record_bars` gives them from the windows' own OHLC
    (whatever the stride, with gaps between the chosen windows, from bars or from windows)."""
    bars = random_walk_series(900, seed=5)
    rule = LabelRule(window=40, stride=3)
    windows = label_series(bars, rule)
    from_windows = corpus_of_windows(windows, inputs=inputs)
    from_bars = corpus_of_bars(bars, rule, inputs=inputs)
    n = len(windows)
    for rows in (np.arange(n), np.arange(0, n, 20), np.r_[5:30, n - 10 : n], np.array([7])):
        want = record_bars(windows, rows)
        assert np.array_equal(from_windows.seen_bars(rows), want)
        assert np.array_equal(from_bars.seen_bars(rows), want)
        assert np.array_equal(from_bars.subset(rows).seen_bars(), want)
    # apart windows leave the bars between them out
    assert len(record_bars(windows, np.array([0, 40]))) == 2 * 40


def test_covered_bars_merges_overlapping_and_touching_windows() -> None:
    got = covered_bars(np.array([10, 0, 3, 30, 20]), 4, 40)
    want = np.zeros(40, dtype=bool)
    for s in (0, 3, 10, 20, 30):
        want[s : s + 4] = True
    assert np.array_equal(got, want)
    assert not covered_bars(np.zeros(0, dtype=np.int64), 4, 10).any()


def test_a_cached_stores_seen_bars_are_read_from_its_file_not_mapped(tmp_path: Path) -> None:
    """A cached store's bars are hashed from its file (read, so a scan of every bar leaves no
    mapped pages in the process), and give the bars the map gives, and the same hashes."""
    bars = random_walk_series(700, seed=8)
    path = tmp_path / "bars.npy"
    np.save(path, bars)
    rule = LabelRule(window=40, stride=2)
    cached = corpus_of_file(path, window=40, stride=2, cache=True)
    assert cached.store.bars_file is not None and cached.store.bars_file.is_file()
    assert np.array_equal(cached.store.bar_rows(5, 300), np.asarray(cached.store.bars[5:300]))
    assert np.array_equal(cached.store.bar_rows(650, 10_000), bars[650:])
    rows = np.arange(0, len(cached), 3)
    assert np.array_equal(cached.seen_bars(rows), record_bars(label_series(bars, rule), rows))
