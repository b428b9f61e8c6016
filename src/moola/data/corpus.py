"""Labelled windows as views over a series store, and where they sit in time: what a run reads.

A :class:`Corpus` is a labelled :class:`~moola.data.store.SeriesStore` (each bar's inputs
once; a window is its first bar; its labels in the store's table) together with its
:class:`~moola.data.splits.Timeline` (each window's series and start bar, given or
detected once), which the split and the walk-forward folds cut on. Training, the folds,
sweeps, ``moola predict`` and the verdict all draw their windows from one, by row.

:func:`load_corpus` makes the corpus of any ``--data`` source:

- a bar series (``backtesting:NAME``, ``synthetic:BARS[:seed]``, a CSV, parquet or ``.npy``
  of bars): cut every ``stride`` bars and labelled by ``moola label``'s rule on the fly
  (:func:`moola.data.store.build.build_labelled_series`), each bar stored once whatever the
  stride;
- a windows parquet with ``start_bar`` (``moola label``'s output): laid onto its series
  batch by batch (:mod:`moola.data.store.stream`), so its prices are never all in memory;
- other windows (``synthetic``, pre-cut files, a bars.csv + labels.csv folder, pooled
  sources): loaded, their shared bars detected once, and laid out
  (:func:`corpus_of_windows`).

Stores of files of at least 32 MB live in a cache folder as memory-mapped files
(:mod:`moola.data.store.cache`), built once and reused while nothing changed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moola.data.features import DEFAULT_FEATURE_SET
from moola.data.features.candles import FeatureSettings
from moola.data.files import BARS_CSV, LABELS_CSV, read_window_columns
from moola.data.fingerprint import Fingerprint
from moola.data.labeling import LabelRule, label_series
from moola.data.overlap import SeriesLayout, bar_hashes
from moola.data.seen import record_bars, sorted_distinct
from moola.data.sources import (
    POOL_SEPARATOR,
    REAL_PREFIX,
    REAL_SOURCES,
    is_market_source,
    label_rule,
    load_windows,
    read_bars,
    real_series_path,
)
from moola.data.splits import Timeline, timeline_of
from moola.data.store import SeriesStore, build_store, open_store, resolve_semantics
from moola.data.store.assemble import Notify
from moola.data.store.build import build_labelled_series
from moola.data.store.source import CACHE_MIN_BYTES, content_digest, file_kind
from moola.data.store.source import read_bars as read_bar_file
from moola.data.synthetic import SyntheticConfig, generate_synthetic
from moola.data.windows import DEFAULT_WINDOW, OHLCWindows
from moola.errors import DataValidationError

#: Windows gathered at a time for the legacy fingerprint (their inputs: about 27 MB).
CHUNK_WINDOWS = 4096
#: Bars hashed at a time for :meth:`Corpus.seen_bars`: their OHLC and the hashing's
#: temporaries, about 6 MB (a million bars at a time cost 100 MB of transient peak, which
#: showed as 1.1 KB per window between 20k and 80k windows).
HASH_BARS = 1 << 16

FeatureSet = str | tuple[str, ...] | list[str]


@dataclass(frozen=True, eq=False)
class Corpus:
    """Labelled windows of a store (``rows`` of its table, all of them when None) and their
    timeline (one entry per window of the corpus, in its order). ``windows``: the labelled
    windows the store was laid out from, kept only when the store holds no OHLC (``window``
    inputs), for :meth:`seen_bars`; their rows are the store's table rows."""

    store: SeriesStore
    timeline: Timeline
    rows: np.ndarray | None = None
    windows: OHLCWindows | None = None

    def __post_init__(self) -> None:
        if self.store.table is None:
            raise DataValidationError("a corpus needs labelled windows; this store has none")
        n = len(self.store.table) if self.rows is None else len(self.rows)
        if len(self.timeline) != n:
            raise DataValidationError(
                f"the timeline has {len(self.timeline)} windows but the corpus {n}"
            )

    def __len__(self) -> int:
        return len(self.timeline)

    @property
    def window(self) -> int:
        return self.store.window

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.store.feature_names

    def store_rows(self, index: Any = None) -> np.ndarray:
        """The store's table rows of the corpus' windows ``index`` (all when None)."""
        if index is None:
            return self.rows if self.rows is not None else np.arange(len(self), dtype=np.int64)
        idx = np.asarray(index, dtype=np.int64)
        return self.rows[idx] if self.rows is not None else idx

    def labels(self, index: Any = None) -> np.ndarray:
        """(n, 3) int32 ``[label, expansion_start, expansion_end]`` of windows ``index``."""
        table = self.store.table
        assert table is not None
        return np.asarray(table.labels[self.store_rows(index)])

    def starts(self, index: Any = None) -> np.ndarray:
        """Global starts (the index of each window's first bar in the store) of ``index``."""
        table = self.store.table
        assert table is not None
        return np.asarray(table.starts[self.store_rows(index)])

    def subset(self, index: Any) -> Corpus:
        """The windows ``index`` of this corpus (a fold's part), on the same store."""
        idx = np.asarray(index, dtype=np.int64)
        return Corpus(self.store, self.timeline.subset(idx), self.store_rows(idx), self.windows)

    def seen_bars(self, index: Any = None) -> np.ndarray | None:
        """The sorted distinct bar hashes of windows ``index`` (all when None), as
        :func:`moola.data.seen.record_bars` gives them for the same windows: what
        ``judging.pt`` records of the bars a run saw. From the store's OHLC (each bar hashed
        once), else from the windows it was laid out from; None when it has neither."""
        rows = self.store_rows(index)
        if self.store.bars is None:
            return None if self.windows is None else record_bars(self.windows, rows)
        table = self.store.table
        assert table is not None
        covered = covered_bars(np.asarray(table.starts[rows]), self.window, self.store.n_bars)
        parts = [np.zeros(0, dtype=np.uint64)]
        for a in range(0, len(covered), HASH_BARS):
            bars = self.store.bar_rows(a, a + HASH_BARS)[covered[a : a + HASH_BARS]]
            parts.append(sorted_distinct(bar_hashes(bars)))
        return sorted_distinct(np.concatenate(parts)).view(np.int64)

    @property
    def fingerprint(self) -> str:
        """The store's data fingerprint (its settings and every array), with the rows when
        the corpus is part of its store."""
        if self.rows is None:
            return self.store.fingerprint
        digest = hashlib.sha256(self.store.fingerprint.encode())
        digest.update(np.ascontiguousarray(self.rows, dtype=np.int64).view(np.uint8).data)
        return digest.hexdigest()

    def legacy_fingerprint(self) -> str:
        """The data fingerprint of checkpoints written before the store: sha256 of every
        window's float32 inputs in row order, then its labels
        (:func:`moola.data.fingerprint.data_fingerprint`). A run started then resumes when
        these inputs are what it trained on (``window`` inputs, or windows that share no
        bars, give them bit for bit)."""
        n, k, f = len(self), self.window, self.store.n_features
        fingerprint = Fingerprint()
        fingerprint.start("x", torch.float32, (n, k, f))
        for a in range(0, n, CHUNK_WINDOWS):
            rows = np.arange(a, min(n, a + CHUNK_WINDOWS))
            fingerprint.update(self.store.gather(self.starts(rows)).cpu())
        labels = self.labels().astype(np.int64)
        for j, name in enumerate(("label", "expansion_start", "expansion_end")):
            fingerprint.add(name, torch.from_numpy(np.ascontiguousarray(labels[:, j])))
        return fingerprint.hexdigest()


def covered_bars(starts: np.ndarray, window: int, n_bars: int) -> np.ndarray:
    """(n_bars,) bool: the bars inside at least one window of ``window`` bars at ``starts``
    (one byte a bar; the windows' spans merged in start order)."""
    s = np.sort(np.asarray(starts, dtype=np.int64))
    delta = np.zeros(n_bars + 1, dtype=np.int8)
    if len(s):
        gap = np.ones(len(s), dtype=bool)  # a span begins where the last one has ended
        gap[1:] = s[1:] > s[:-1] + window
        first = np.flatnonzero(gap)
        ends = np.append(s[first[1:] - 1], s[-1]) + window
        delta[s[first]] = 1
        delta[ends] -= 1
    return np.cumsum(delta[:n_bars], dtype=np.int8) > 0


def corpus_of_windows(
    windows: OHLCWindows,
    *,
    feature_set: FeatureSet = DEFAULT_FEATURE_SET,
    inputs: str = "auto",
    settings: FeatureSettings | None = None,
    cache: bool = False,
    source: str | Path | None = None,
    notify: Notify | None = None,
) -> Corpus:
    """The corpus of labelled ``windows`` (rows in their order): their timeline (shared bars
    detected once, when they carry no ``start_bar``) and their store, laid out on it. The
    store checks the labels and every window's bars (each stored bar once), with errors that
    name the row and bar."""
    timeline = timeline_of(windows)
    layout = None
    if timeline.kind == "detected":
        layout = SeriesLayout(
            timeline.series, timeline.start_bar, timeline.linked, timeline.conflicts
        )
    store = build_store(
        windows,
        feature_set=feature_set,
        inputs=inputs,
        settings=settings,
        layout=layout,
        cache=cache,
        source=source,
        notify=notify,
    )
    return Corpus(store, timeline, windows=windows if store.bars is None else None)


def corpus_of_bars(
    bars: Any,
    rule: LabelRule,
    *,
    feature_set: FeatureSet = DEFAULT_FEATURE_SET,
    inputs: str = "auto",
    settings: FeatureSettings | None = None,
    cache: bool = False,
    source: str | Path | None = None,
    source_digest: str | None = None,
    notify: Notify | None = None,
) -> Corpus:
    """The corpus of one (T, 4) bar series cut and labelled by ``rule``: with ``series``
    inputs a labelled series store (each bar once, windows labelled a chunk at a time);
    with ``window`` inputs (every window its own series, the original's) the cut windows."""
    if resolve_semantics(inputs, feature_set) == "window":
        try:
            windows = label_series(bars, rule)
        except DataValidationError as exc:
            raise DataValidationError(f"{source or 'series'}: {exc}") from None
        return corpus_of_windows(
            windows, feature_set=feature_set, inputs="window", settings=settings, notify=notify
        )
    store = build_labelled_series(
        bars,
        rule,
        feature_set=feature_set,
        settings=settings,
        cache=cache,
        source=source,
        source_digest=source_digest,
        notify=notify,
    )
    table = store.table
    assert table is not None
    n = len(table)
    timeline = Timeline(
        "start_bar", table.source[:, 1], table.source[:, 0], np.ones(n, dtype=bool), rule.window
    )
    return Corpus(store, timeline)


def _file_size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    return path.stat().st_size


def corpus_of_file(
    path: str | os.PathLike[str],
    *,
    window: int = DEFAULT_WINDOW,
    stride: int | None = None,
    feature_set: FeatureSet = DEFAULT_FEATURE_SET,
    inputs: str = "auto",
    settings: FeatureSettings | None = None,
    cache: bool | None = None,
    notify: Notify | None = None,
) -> Corpus:
    """The corpus of a data file: a bar series (cut every ``stride`` bars, labelled on the
    fly) or labelled windows. ``cache``: keep its store in a cache folder (None: when the
    file is at least 32 MB)."""
    path = Path(path)
    kind = file_kind(path)
    cache = _file_size(path) >= CACHE_MIN_BYTES if cache is None else cache
    if kind == "series":
        bars = read_bar_file(path, window)
        return corpus_of_bars(
            bars,
            label_rule(window, stride),
            feature_set=feature_set,
            inputs=inputs,
            settings=settings,
            cache=cache,
            source=path,
            source_digest=content_digest(path) if cache else None,
            notify=notify,
        )
    semantics = resolve_semantics(inputs, feature_set)
    if path.suffix.lower() == ".parquet" and semantics == "series":
        columns = read_window_columns(path, window=window)
        if columns.start_bar is not None:  # laid onto its series batch by batch
            store = open_store(
                path,
                window=window,
                feature_set=feature_set,
                inputs=semantics,
                settings=settings,
                cache=cache,
                notify=notify,
            )
            timeline = timeline_of_columns(columns.start_bar, columns.series, window)
            return Corpus(store, timeline)
    return corpus_of_windows(
        load_windows(path, window=window),
        feature_set=feature_set,
        inputs=inputs,
        settings=settings,
        cache=cache,
        source=path,
        notify=notify,
    )


def timeline_of_columns(start_bar: np.ndarray, series: np.ndarray | None, window: int) -> Timeline:
    """The timeline of windows that carry ``start_bar`` (and ``series`` when pooled)."""
    n = len(start_bar)
    if series is None:
        return Timeline(
            "start_bar", start_bar, np.zeros(n, dtype=np.int64), np.ones(n, bool), window
        )
    return Timeline("series", start_bar, series, np.ones(n, dtype=bool), window)


def load_corpus(
    source: str | os.PathLike[str],
    *,
    window: int = DEFAULT_WINDOW,
    stride: int | None = None,
    feature_set: FeatureSet = DEFAULT_FEATURE_SET,
    inputs: str = "auto",
    synthetic: SyntheticConfig | None = None,
    settings: FeatureSettings | None = None,
    notify: Notify | None = None,
) -> Corpus:
    """The corpus of a ``--data`` source (see the module docstring). ``stride``: bars between
    window starts of a bar series (default: ``moola label``'s); ``synthetic``: the market of
    plain ``synthetic`` (default: seed 0, ``window`` bars)."""
    options: dict[str, Any] = {
        "feature_set": feature_set,
        "inputs": inputs,
        "settings": settings,
        "notify": notify,
    }
    text = str(source).strip()
    if isinstance(source, str) and POOL_SEPARATOR in source:
        windows = load_windows(source, window=window, synthetic=synthetic, stride=stride)
        return corpus_of_windows(windows, **options)
    if isinstance(source, str) and text.lower() == "synthetic":
        market = synthetic or SyntheticConfig(window=window)
        return corpus_of_windows(generate_synthetic(market), **options)
    rule = label_rule(window, stride)
    if is_market_source(source):
        return corpus_of_bars(read_bars(source, window=window), rule, source=text, **options)
    if isinstance(source, str) and source.startswith(REAL_PREFIX):
        path = real_series_path(source)
        return corpus_of_bars(read_bars(path, window=window), rule, source=path, **options)
    path = Path(source)
    if path.is_dir():
        missing = [name for name in (BARS_CSV, LABELS_CSV) if not (path / name).is_file()]
        if missing:
            raise DataValidationError(
                f"directory {str(path)!r} has no {' or '.join(missing)}; {ACCEPTED}"
            )
    elif not path.exists():
        raise DataValidationError(f"{str(path)!r} does not exist; {ACCEPTED}")
    elif path.suffix.lower() not in (".parquet", ".csv", ".txt", ".npy"):
        raise DataValidationError(f"don't know how to load {str(path)!r}; {ACCEPTED}")
    return corpus_of_file(path, window=window, stride=stride, **options)


ACCEPTED = (
    f"accepted sources are 'synthetic', synthetic:BARS[:seed], {', '.join(REAL_SOURCES)}, "
    f"a bar series (.csv, .parquet or .npy of open/high/low/close), a windows .parquet file, "
    f"or a directory containing {BARS_CSV} and {LABELS_CSV}"
)
