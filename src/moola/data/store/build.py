"""Build a store from labelled windows or from bar series, in memory or in its cache folder.

:func:`build_store` lays windows onto their series (:mod:`moola.data.store.layout`),
computes every bar's stored columns once (:mod:`moola.data.store.engine`) and keeps each
window's start and labels. :func:`build_series_store` does the same for unlabelled bar
series (pretraining draws their windows with :meth:`SeriesStore.dense`). With
``cache=True`` the arrays are written to a memory-mapped store folder named by everything
they depend on (:mod:`moola.data.store.cache`) and reused from there while nothing changed.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from moola.data.features import DEFAULT_FEATURE_SET
from moola.data.features.candles import FeatureSettings
from moola.data.labeling import check_series
from moola.data.overlap import SeriesLayout
from moola.data.store import cache as disk
from moola.data.store.engine import CHUNK_SERIES, featurise_windows, series_blocks
from moola.data.store.layout import BarLayout, lay_out
from moola.data.store.plan import ColumnPlan, resolve_semantics
from moola.data.store.store import SeriesStore, StoreInfo, WindowTable
from moola.data.windows import (
    DEFAULT_WINDOW,
    LABEL_NAMES,
    OHLCWindows,
    ohlc_is_valid,
    validate_labels,
    validate_ohlc,
)
from moola.errors import DataValidationError

#: Segments of one length go through the window builder's path (one numpy call per bar on
#: a row of segments) when at least this many share the length; others are scanned alone.
MIN_BATCH = 16
#: ...and only when they are at most this long (a longer one is cheaper to scan).
MAX_BATCH_LENGTH = 4096

Notify = Callable[[str], None]
#: Makes one of a store's arrays: in memory, or a file written row by row.
Allocate = Callable[[str, tuple[int, ...], Any], Any]
#: Where rows of bars are written: a numpy array or a cache.RowFile (``x[rows] = values``).
Rows = Any


def print_notice(message: str) -> None:
    print(f"moola: {message}", file=sys.stderr)


def _in_memory(file: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    return np.empty(shape, dtype=dtype)


def featurise(
    bars: np.ndarray,
    offsets: np.ndarray,
    plan: ColumnPlan,
    settings: FeatureSettings,
    block: Rows,
    anchors: Rows | None,
    *,
    threaded: bool = True,
) -> None:
    """Every segment's stored columns into ``block`` and its close and range EMA into
    ``anchors`` (rows of bars, written in whole rows: arrays or :class:`cache.RowFile`)."""
    lengths = np.diff(offsets)
    values, counts = np.unique(lengths, return_counts=True)
    batched = set(values[(counts >= MIN_BATCH) & (values <= MAX_BATCH_LENGTH)].tolist())
    for length in sorted(batched):
        segments = np.flatnonzero(lengths == length)
        for a in range(0, len(segments), CHUNK_SERIES):
            first = offsets[segments[a : a + CHUNK_SERIES]]
            rows: slice | np.ndarray
            if (np.diff(first) == length).all():  # one run of bars (windows in row order)
                rows = slice(int(first[0]), int(first[-1]) + length)
            else:
                rows = (first[:, None] + np.arange(length)[None, :]).reshape(-1)
            ohlc = np.asarray(bars[rows]).reshape(len(first), length, 4)
            columns, ema = featurise_windows(ohlc, plan, settings, threaded=threaded)
            block[rows] = columns.reshape(len(first) * length, -1)
            if anchors is not None and ema is not None:
                anchors[rows] = np.stack([ohlc[:, :, 3].reshape(-1), ema.reshape(-1)], axis=1)
    for s in np.flatnonzero(~np.isin(lengths, list(batched))):
        begin = int(offsets[s])
        series = bars[begin : int(offsets[s + 1])]
        for a, b, columns, ema in series_blocks(series, plan, settings):
            block[begin + a : begin + b] = columns
            if anchors is not None:
                anchors[begin + a : begin + b] = np.stack([series[a:b, 3], ema], axis=1)


def identity_of(
    kind: str,
    window: int,
    plan: ColumnPlan,
    semantics: str,
    settings: FeatureSettings,
) -> dict[str, Any]:
    """What a store's arrays depend on besides its source and the code (:func:`cache.store_key`
    adds both to name a cached store)."""
    return {
        "kind": kind,
        "window": window,
        "groups": list(plan.groups),
        "names": list(plan.names),
        "semantics": semantics,
        "settings": asdict(settings),
    }


def _windows_digest(windows: OHLCWindows) -> str:
    def arrays() -> Iterator[tuple[str, np.ndarray | None]]:
        yield "ohlc", windows.ohlc
        yield "label", windows.label
        yield "expansion_start", windows.expansion_start
        yield "expansion_end", windows.expansion_end
        yield "start_bar", windows.start_bar
        yield "series", windows.series

    return disk.array_digest(arrays())


def _arrays(
    allocate: Allocate,
    layout: BarLayout,
    plan: ColumnPlan,
    n_windows: int | None,
    keep_bars: bool,
) -> dict[str, np.ndarray]:
    """The store's arrays. The OHLC is kept for ``series`` inputs only (to label or check
    windows on the fly); under ``window`` inputs it would be K copies of each bar."""
    t = layout.n_bars
    arrays = {
        "offsets": allocate("offsets.npy", (len(layout.offsets),), np.int64),
        "block": allocate("block.npy", (t, len(plan.stored)), np.float32),
    }
    if keep_bars:
        arrays["bars"] = allocate("bars.npy", (t, 4), np.float64)
    if plan.needs_ema:
        arrays["anchors"] = allocate("anchors.npy", (t, 2), np.float64)
    if n_windows is not None:
        arrays["starts"] = allocate("starts.npy", (n_windows,), np.int64)
        arrays["labels"] = allocate("labels.npy", (n_windows, 3), np.int32)
        arrays["source"] = allocate("source.npy", (n_windows, 2), np.int64)
    return arrays


def fingerprint_of(identity: dict[str, Any], arrays: dict[str, Any]) -> str:
    """The data fingerprint of a store: its settings and the bytes of every array (bars,
    stored features, anchors, window table), so equal inputs and labels give equal digests
    however the store was made (in memory or on disk, from a file or from windows)."""
    described = {k: v for k, v in identity.items() if k != "kind"}  # not where it came from
    settings = json.dumps(described, sort_keys=True).encode()

    def named() -> Iterator[tuple[str, Any]]:
        yield "identity", np.frombuffer(settings, dtype=np.uint8)
        for name in sorted(arrays):
            yield name, arrays[name]

    return disk.array_digest(named())


def _assemble(
    arrays: dict[str, np.ndarray],
    window: int,
    plan: ColumnPlan,
    settings: FeatureSettings,
    fingerprint: str | Callable[[], str],
    info: StoreInfo,
) -> SeriesStore:
    table = None
    if "starts" in arrays:
        table = WindowTable(arrays["starts"], arrays["labels"], arrays["source"])
    return SeriesStore(
        window=window,
        plan=plan,
        settings=settings,
        offsets=np.asarray(arrays["offsets"]),
        bars=arrays.get("bars"),
        block=arrays["block"],
        anchors=arrays.get("anchors"),
        table=table,
        fingerprint=fingerprint,
        info=info,
    )


def _open_cached(
    folder: Path, window: int, plan: ColumnPlan, settings: FeatureSettings
) -> SeriesStore:
    manifest = disk.read_manifest(folder) or {}
    arrays = {
        name: disk.open_array(folder, spec["file"], spec)
        for name, spec in manifest.get("arrays", {}).items()
    }
    info = StoreInfo(
        semantics=manifest["identity"]["semantics"],
        n_segments=len(arrays["offsets"]) - 1,
        conflicts=int(manifest.get("conflicts", 0)),
        cache=str(folder),
        reused=True,
    )
    return _assemble(arrays, window, plan, settings, str(manifest["fingerprint"]), info)


#: The layout, the bars and the window table's arrays (None: unlabelled), made on demand.
Lay = Callable[[], tuple[BarLayout, np.ndarray, dict[str, np.ndarray] | None]]


def make_store(
    *,
    identity: dict[str, Any],
    origin: Callable[[], dict[str, Any]],
    stem: str,
    source_path: Path | None,
    cache: bool,
    window: int,
    plan: ColumnPlan,
    settings: FeatureSettings,
    notify: Notify | None,
    lay: Lay,
    threaded: bool,
) -> SeriesStore:
    """Open the cached store of ``identity`` and the source that ``origin`` describes (its
    content digest, computed only when caching), or build it from ``lay``, in memory or in
    the cache."""
    notices: list[str] = []
    keep = identity["semantics"] == "series"

    def tell(message: str) -> None:
        notices.append(message)
        (notify or print_notice)(message)

    if not cache:
        layout, bars, table = lay()
        arrays = _arrays(_in_memory, layout, plan, _count(table), keep)
        _fill(arrays, layout, bars, table, plan, settings, threaded)
        info = StoreInfo(
            identity["semantics"], layout.n_segments, layout.conflicts, notices=notices
        )
        fingerprint = partial(fingerprint_of, identity, arrays)  # computed on first use
        return _assemble(arrays, window, plan, settings, fingerprint, info)
    source = origin()
    key = disk.store_key({**identity, "source": source})
    roots = disk.cache_roots(source_path)
    name = disk.entry_name(stem, key)
    found = disk.find(roots, name, key)
    if found is not None:
        try:
            return _open_cached(found, window, plan, settings)
        except (disk.StoreDamaged, KeyError, TypeError) as exc:
            tell(f"the store {found} is damaged ({exc}); building it again")
            shutil.rmtree(found, ignore_errors=True)
    for root in roots:  # a folder of that name without its manifest is not a store
        if (root / name).is_dir() and disk.read_manifest(root / name) is None:
            tell(f"the store {root / name} is incomplete; building it again")
            shutil.rmtree(root / name, ignore_errors=True)
    layout, bars, table = lay()
    what = str(source_path) if source_path is not None else f"these {identity['kind']}"
    with disk.building(roots, name, what, tell) as build:
        arrays = _arrays(build.array, layout, plan, _count(table), keep)
        _fill(arrays, layout, bars, table, plan, settings, threaded)
        build.finish()  # every file on disk: the fingerprint reads them back
        manifest = {
            "format": disk.STORE_FORMAT,
            "key": key,
            "identity": identity,
            "source": source,
            "fingerprint": fingerprint_of(identity, arrays),
            "conflicts": layout.conflicts,
            "arrays": {
                name_: {"file": f"{name_}.npy", "shape": list(a.shape), "dtype": a.dtype.str}
                for name_, a in arrays.items()
            },
        }
        del arrays
        folder = build.commit(manifest)
    del bars, table  # the source's bars (maybe a memory map) are not needed any more
    if "path" in source:  # stores of older versions of this file are useless now
        disk.remove_stale(folder.parent, folder.name, source["path"], source["digest"])
    store = _open_cached(folder, window, plan, settings)
    store.info.reused = False
    store.info.notices = notices
    return store


def _count(table: dict[str, np.ndarray] | None) -> int | None:
    return None if table is None else len(table["starts"])


def _fill(
    arrays: dict[str, Any],
    layout: BarLayout,
    bars: np.ndarray,
    table: dict[str, np.ndarray] | None,
    plan: ColumnPlan,
    settings: FeatureSettings,
    threaded: bool,
) -> None:
    arrays["offsets"][0 : len(layout.offsets)] = layout.offsets
    if "bars" in arrays:
        for a in range(0, len(bars), CHECK_BARS):
            arrays["bars"][a : a + CHECK_BARS] = bars[a : a + CHECK_BARS]
    featurise(
        bars,
        layout.offsets,
        plan,
        settings,
        arrays["block"],
        arrays.get("anchors"),
        threaded=threaded,
    )
    if table is not None:
        for name, values in table.items():
            arrays[name][0 : len(values)] = values


def table_of(
    windows: OHLCWindows, layout: BarLayout, keys: np.ndarray, position: np.ndarray
) -> dict[str, np.ndarray]:
    """The window table's arrays: global starts, labels, and where each window sat."""
    labels = np.stack([windows.label, windows.expansion_start, windows.expansion_end], axis=1)
    return {
        "starts": layout.starts,
        "labels": labels.astype(np.int32),
        "source": np.stack([keys, position], axis=1),
    }


def build_store(
    windows: OHLCWindows,
    *,
    feature_set: str | tuple[str, ...] | list[str] = DEFAULT_FEATURE_SET,
    inputs: str = "auto",
    settings: FeatureSettings | None = None,
    layout: SeriesLayout | None = None,
    cache: bool = False,
    source: str | Path | None = None,
    notify: Notify | None = None,
    threaded: bool = True,
) -> SeriesStore:
    """The store of labelled ``windows`` (rows in their order).

    ``inputs``: ``series``, ``window`` or ``auto`` (:func:`moola.data.store.plan.resolve_semantics`).
    ``layout``: the detected series of pre-cut windows, when the caller has it already (the
    split detects it too). ``cache``: keep the arrays in a store folder (``source``, the file
    the windows came from, places and names it; it is not read).
    """
    validate_labels(
        windows.label,
        windows.expansion_start,
        windows.expansion_end,
        windows.window,
        n_classes=len(LABEL_NAMES),
    )
    settings = settings or FeatureSettings()
    semantics = resolve_semantics(inputs, feature_set)
    plan = ColumnPlan.of(feature_set)
    path = Path(source) if source is not None else None
    identity = identity_of("windows", windows.window, plan, semantics, settings)

    def origin() -> dict[str, Any]:
        described: dict[str, Any] = {"digest": _windows_digest(windows)}
        if path is not None:
            described["path"] = str(path.resolve())
        return described

    def lay() -> tuple[BarLayout, np.ndarray, dict[str, np.ndarray]]:
        bar_layout, bars, keys, position = lay_out(windows, semantics, layout)
        # every window's bars are stored bars (lay_out checks), so checking the stored bars
        # checks every window's; only a bad bar needs the windows' check, which names it
        if not ohlc_is_valid(bars[:, 0], bars[:, 1], bars[:, 2], bars[:, 3]):
            validate_ohlc(windows.ohlc)
        return bar_layout, bars, table_of(windows, bar_layout, keys, position)

    return make_store(
        identity=identity,
        origin=origin,
        stem=path.name if path is not None else "windows",
        source_path=path,
        cache=cache,
        window=windows.window,
        plan=plan,
        settings=settings,
        notify=notify,
        lay=lay,
        threaded=threaded,
    )


#: Bars checked at a time (bounds the check's temporaries on long series).
CHECK_BARS = 1 << 20


def check_bars(bars: Any, window: int, source: str) -> np.ndarray:
    """A (T, 4) float64 series of possible bars, at least one window long, checked
    ``CHECK_BARS`` at a time (a memory map stays one); errors name ``source`` and the row."""
    array = np.asarray(bars)
    if array.dtype != np.float64:
        array = array.astype(np.float64)
    if array.ndim != 2 or array.shape[1] != 4 or len(array) < window:
        return check_series(array, window=window, source=source)  # raises the named error
    a = 0
    while a < len(array):
        b = a + CHECK_BARS if len(array) - (a + CHECK_BARS) >= window else len(array)
        try:
            check_series(array[a:b], window=window, source=source)
        except DataValidationError as exc:
            head, _, rest = str(exc).partition(": row ")
            row, _, problem = rest.partition(":")
            raise DataValidationError(f"{head}: row {a + int(row)}:{problem}") from None
        a = b
    return array


def build_series_store(
    series: Sequence[np.ndarray],
    *,
    window: int = DEFAULT_WINDOW,
    feature_set: str | tuple[str, ...] | list[str] = DEFAULT_FEATURE_SET,
    settings: FeatureSettings | None = None,
    cache: bool = False,
    source: str | Path | None = None,
    source_digest: str | None = None,
    notify: Notify | None = None,
) -> SeriesStore:
    """The unlabelled store of bar ``series`` ((T_i, 4) each, oldest first; each at least one
    window long). Inputs are per series. ``source_digest``: the content digest of the file
    they came from (skips hashing the bars)."""
    settings = settings or FeatureSettings()
    plan = ColumnPlan.of(feature_set)
    path = Path(source) if source is not None else None
    checked = [
        check_bars(bars, window, str(path) if path is not None else f"series {i}")
        for i, bars in enumerate(series)
    ]
    if not checked:
        raise DataValidationError("no bar series given: the store needs at least one")
    identity = identity_of("series", window, plan, "series", settings)

    def origin() -> dict[str, Any]:
        digest = source_digest or disk.array_digest((f"{i}", s) for i, s in enumerate(checked))
        described: dict[str, Any] = {"digest": digest}
        if path is not None:
            described["path"] = str(path.resolve())
        return described

    return make_store(
        identity=identity,
        origin=origin,
        stem=path.name if path is not None else "series",
        source_path=path,
        cache=cache,
        window=window,
        plan=plan,
        settings=settings,
        notify=notify,
        lay=lambda: series_layout(checked),
        threaded=True,
    )


def series_layout(series: Sequence[np.ndarray]) -> tuple[BarLayout, np.ndarray, None]:
    """Checked series one after the other, each a segment (one series stays as it is: a
    memory map is not read into memory)."""
    offsets = np.zeros(len(series) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in series], out=offsets[1:])
    layout = BarLayout(offsets, np.zeros(0, dtype=np.int64), 0)
    return layout, np.concatenate(series) if len(series) > 1 else series[0], None
