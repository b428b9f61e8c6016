"""Open a cached store, or build one (in memory or in the cache): the one way stores are made.

:func:`make_store` takes what the store depends on (``identity``: window, feature set,
settings, semantics; ``origin``: its source's content digest, computed only when caching)
and how to lay out its bars (``lay``, called only when the store must be built). It fills
the arrays (:mod:`moola.data.store.engine` computes the features), and either keeps them
in memory or commits them as a store folder (:mod:`moola.data.store.cache`) and opens that.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from moola.data.features.candles import FeatureSettings
from moola.data.store import cache as disk
from moola.data.store.arrays import StoreDamaged, open_array
from moola.data.store.digest import STORE_FORMAT, array_digest, store_key
from moola.data.store.engine import featurise
from moola.data.store.layout import BarLayout
from moola.data.store.plan import ColumnPlan
from moola.data.store.store import SeriesStore, StoreInfo, WindowTable

#: Bars copied at a time into a store's bars file.
COPY_BARS = 1 << 20

Notify = Callable[[str], None]
#: Makes one of a store's arrays: in memory, or a file written row by row.
Allocate = Callable[[str, tuple[int, ...], Any], Any]


def print_notice(message: str) -> None:
    print(f"moola: {message}", file=sys.stderr)


def _in_memory(file: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    return np.empty(shape, dtype=dtype)


def identity_of(
    kind: str,
    window: int,
    plan: ColumnPlan,
    semantics: str,
    settings: FeatureSettings,
) -> dict[str, Any]:
    """What a store's arrays depend on besides its source and the code (:func:`moola.data.store.digest.store_key`
    adds both to name a cached store)."""
    return {
        "kind": kind,
        "window": window,
        "groups": list(plan.groups),
        "names": list(plan.names),
        "semantics": semantics,
        "settings": asdict(settings),
    }


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

    return array_digest(named())


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
        name: open_array(folder, spec["file"], spec)
        for name, spec in manifest.get("arrays", {}).items()
    }
    info = StoreInfo(
        semantics=manifest["identity"]["semantics"],
        n_segments=len(arrays["offsets"]) - 1,
        conflicts=int(manifest.get("conflicts", 0)),
        cache=str(folder),
        reused=True,
    )
    store = _assemble(arrays, window, plan, settings, str(manifest["fingerprint"]), info)
    if "bars" in arrays:
        store.bars_file = folder / manifest["arrays"]["bars"]["file"]
    return store


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
    key = store_key({**identity, "source": source})
    roots = disk.cache_roots(source_path)
    name = disk.entry_name(stem, key)
    found = disk.find(roots, name, key)
    if found is not None:
        try:
            return _open_cached(found, window, plan, settings)
        except (StoreDamaged, KeyError, TypeError) as exc:
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
            "format": STORE_FORMAT,
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
        for a in range(0, len(bars), COPY_BARS):
            arrays["bars"][a : a + COPY_BARS] = bars[a : a + COPY_BARS]
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
