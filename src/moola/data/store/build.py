"""Build a store from labelled windows or from bar series, in memory or in its cache folder.

:func:`build_store` lays windows onto their series (:mod:`moola.data.store.layout`),
computes every bar's stored columns once (:mod:`moola.data.store.engine`) and keeps each
window's start and labels. :func:`build_series_store` does the same for unlabelled bar
series (pretraining draws their windows with :meth:`SeriesStore.dense`). With
``cache=True`` the arrays are written to a memory-mapped store folder named by everything
they depend on (:mod:`moola.data.store.cache`) and reused from there while nothing changed.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from moola.data.features import DEFAULT_FEATURE_SET
from moola.data.features.candles import FeatureSettings
from moola.data.labeling import check_series
from moola.data.overlap import SeriesLayout
from moola.data.store import cache as disk
from moola.data.store.engine import CHUNK_SERIES, featurise_series, featurise_windows
from moola.data.store.layout import BarLayout, lay_out
from moola.data.store.plan import ColumnPlan, resolve_semantics
from moola.data.store.store import SeriesStore, StoreInfo, WindowTable
from moola.data.windows import DEFAULT_WINDOW, LABEL_NAMES, OHLCWindows
from moola.errors import DataValidationError

#: Segments of one length go through the window builder's path (one numpy call per bar on
#: a row of segments) when at least this many share the length; others are scanned alone.
MIN_BATCH = 16
#: ...and only when they are at most this long (a longer one is cheaper to scan).
MAX_BATCH_LENGTH = 4096

Notify = Callable[[str], None]
Allocate = Callable[[str, tuple[int, ...], Any], np.ndarray]


def print_notice(message: str) -> None:
    print(f"moola: {message}", file=sys.stderr)


def _in_memory(file: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    return np.empty(shape, dtype=dtype)


def featurise(
    bars: np.ndarray,
    offsets: np.ndarray,
    plan: ColumnPlan,
    settings: FeatureSettings,
    block: np.ndarray,
    anchors: np.ndarray | None,
    *,
    threaded: bool = True,
) -> None:
    """Every segment's stored columns into ``block`` and its close and EMA into ``anchors``."""
    lengths = np.diff(offsets)
    if anchors is not None:
        for a in range(0, len(bars), 1 << 20):
            anchors[a : a + (1 << 20), 0] = bars[a : a + (1 << 20), 3]
    ema = anchors[:, 1] if anchors is not None else None
    values, counts = np.unique(lengths, return_counts=True)
    batched = set(values[(counts >= MIN_BATCH) & (values <= MAX_BATCH_LENGTH)].tolist())
    for length in sorted(batched):
        segments = np.flatnonzero(lengths == length)
        for a in range(0, len(segments), CHUNK_SERIES):
            first = offsets[segments[a : a + CHUNK_SERIES]]
            index = first[:, None] + np.arange(length)[None, :]
            columns, series_ema = featurise_windows(bars[index], plan, settings, threaded=threaded)
            flat = index.reshape(-1)
            block[flat] = columns.reshape(len(flat), -1)
            if ema is not None and series_ema is not None:
                ema[flat] = series_ema.reshape(-1)
    for s in np.flatnonzero(~np.isin(lengths, list(batched))):
        a, b = int(offsets[s]), int(offsets[s + 1])
        featurise_series(
            bars[a:b], plan, settings, block[a:b], ema[a:b] if ema is not None else None
        )


def identity_of(
    kind: str,
    source: dict[str, Any],
    window: int,
    plan: ColumnPlan,
    semantics: str,
    settings: FeatureSettings,
) -> dict[str, Any]:
    """Everything a store's arrays depend on, except the code (:func:`cache.store_key` adds it)."""
    return {
        "kind": kind,
        "source": source,
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
    allocate: Allocate, layout: BarLayout, plan: ColumnPlan, n_windows: int | None
) -> dict[str, np.ndarray]:
    t = layout.n_bars
    arrays = {
        "offsets": allocate("offsets.npy", (len(layout.offsets),), np.int64),
        "bars": allocate("bars.npy", (t, 4), np.float64),
        "block": allocate("block.npy", (t, len(plan.stored)), np.float32),
    }
    if plan.needs_ema:
        arrays["anchors"] = allocate("anchors.npy", (t, 2), np.float64)
    if n_windows is not None:
        arrays["starts"] = allocate("starts.npy", (n_windows,), np.int64)
        arrays["labels"] = allocate("labels.npy", (n_windows, 3), np.int32)
        arrays["source"] = allocate("source.npy", (n_windows, 2), np.int64)
    return arrays


def _assemble(
    arrays: dict[str, np.ndarray],
    window: int,
    plan: ColumnPlan,
    settings: FeatureSettings,
    key: str,
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
        bars=arrays["bars"],
        block=arrays["block"],
        anchors=arrays.get("anchors"),
        table=table,
        fingerprint=key,
        info=info,
    )


def _open_cached(
    folder: Path, window: int, plan: ColumnPlan, settings: FeatureSettings, key: str
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
    return _assemble(arrays, window, plan, settings, key, info)


def make_store(
    *,
    identity: dict[str, Any],
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
    """Open the cached store of ``identity``, or build it (``lay`` gives the layout, the bars
    and the window table) in memory or in the cache."""
    key = disk.store_key(identity)
    notices: list[str] = []

    def tell(message: str) -> None:
        notices.append(message)
        (notify or print_notice)(message)

    what = str(source_path) if source_path is not None else f"these {identity['kind']}"
    roots = disk.cache_roots(source_path) if cache else []
    name = disk.entry_name(stem, key)
    if cache:
        found = disk.find(roots, name, key)
        if found is not None:
            try:
                return _open_cached(found, window, plan, settings, key)
            except (disk.StoreError, KeyError, TypeError) as exc:
                tell(f"the store {found} is damaged ({exc}); building it again")
                shutil.rmtree(found, ignore_errors=True)
        for root in roots:  # a folder of that name without its manifest is not a store
            if (root / name).is_dir() and disk.read_manifest(root / name) is None:
                tell(f"the store {root / name} is incomplete; building it again")
                shutil.rmtree(root / name, ignore_errors=True)
    layout, bars, table = lay()
    info = StoreInfo(identity["semantics"], layout.n_segments, layout.conflicts, notices=notices)
    if not cache:
        arrays = _arrays(_in_memory, layout, plan, None if table is None else len(table["starts"]))
        _fill(arrays, layout, bars, table, plan, settings, threaded)
        return _assemble(arrays, window, plan, settings, key, info)
    with disk.building(roots, name, what, tell) as build:
        arrays = _arrays(build.array, layout, plan, None if table is None else len(table["starts"]))
        _fill(arrays, layout, bars, table, plan, settings, threaded)
        manifest = {
            "format": disk.STORE_FORMAT,
            "key": key,
            "identity": identity,
            "source": identity["source"],
            "conflicts": layout.conflicts,
            "arrays": {
                name_: {"file": f"{name_}.npy", "shape": list(a.shape), "dtype": a.dtype.str}
                for name_, a in arrays.items()
            },
        }
        del arrays
        folder = build.commit(manifest)
    origin = identity["source"]
    if "path" in origin:  # stores of older versions of this file are useless now
        disk.remove_stale(folder.parent, folder.name, origin["path"], origin["digest"])
    store = _open_cached(folder, window, plan, settings, key)
    store.info.reused = False
    store.info.notices = notices
    return store


def _fill(
    arrays: dict[str, np.ndarray],
    layout: BarLayout,
    bars: np.ndarray,
    table: dict[str, np.ndarray] | None,
    plan: ColumnPlan,
    settings: FeatureSettings,
    threaded: bool,
) -> None:
    arrays["offsets"][:] = layout.offsets
    arrays["bars"][:] = bars
    featurise(
        arrays["bars"],
        layout.offsets,
        plan,
        settings,
        arrays["block"],
        arrays.get("anchors"),
        threaded=threaded,
    )
    if table is not None:
        for name, values in table.items():
            arrays[name][:] = values


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


Lay = Callable[[], tuple[BarLayout, np.ndarray, dict[str, np.ndarray] | None]]


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
    windows.validate(n_classes=len(LABEL_NAMES))
    settings = settings or FeatureSettings()
    semantics = resolve_semantics(inputs, feature_set)
    plan = ColumnPlan.of(feature_set)
    path = Path(source) if source is not None else None
    origin: dict[str, Any] = {"digest": _windows_digest(windows)}
    if path is not None:
        origin["path"] = str(path.resolve())
    identity = identity_of("windows", origin, windows.window, plan, semantics, settings)

    def lay() -> tuple[BarLayout, np.ndarray, dict[str, np.ndarray]]:
        bar_layout, bars, keys, position = lay_out(windows, semantics, layout)
        return bar_layout, bars, table_of(windows, bar_layout, keys, position)

    return make_store(
        identity=identity,
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
    origin: dict[str, Any] = {
        "digest": source_digest or disk.array_digest((f"{i}", s) for i, s in enumerate(checked))
    }
    if path is not None:
        origin["path"] = str(path.resolve())
    identity = identity_of("series", origin, window, plan, "series", settings)

    def lay() -> tuple[BarLayout, np.ndarray, None]:
        offsets = np.zeros(len(checked) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in checked], out=offsets[1:])
        bar_layout = BarLayout(offsets, np.zeros(0, dtype=np.int64), 0)
        return bar_layout, np.concatenate(checked) if len(checked) > 1 else checked[0], None

    return make_store(
        identity=identity,
        stem=path.name if path is not None else "series",
        source_path=path,
        cache=cache,
        window=window,
        plan=plan,
        settings=settings,
        notify=notify,
        lay=lay,
        threaded=True,
    )
