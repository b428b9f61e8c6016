"""Open the store of a data file, keyed by the file's content: built once, reused after.

A file holds labelled windows (parquet in the original schema, with or without
``start_bar``; a folder with bars.csv and labels.csv) or a bar series (CSV or parquet with
open/high/low/close columns, or a (T, 4) float64 ``.npy``, which is read as a memory map).
The store's key is the file's content digest and every setting (:mod:`moola.data.store.cache`),
so the file is read again only when its store does not exist yet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from moola.data.features import DEFAULT_FEATURE_SET
from moola.data.features.candles import FeatureSettings
from moola.data.files import BARS_CSV, LABELS_CSV, import_pyarrow, read_series
from moola.data.sources import load_windows
from moola.data.store.assemble import Lay, Notify, identity_of, make_store
from moola.data.store.build import check_bars, series_layout, table_of
from moola.data.store.digest import array_digest, file_digest
from moola.data.store.layout import BarLayout, lay_out
from moola.data.store.plan import ColumnPlan, resolve_semantics
from moola.data.store.store import SeriesStore
from moola.data.store.stream import lay_windows_file
from moola.data.windows import DEFAULT_WINDOW
from moola.errors import DataValidationError

#: ``cache=None`` keeps a file's store on disk when the file is at least this large.
CACHE_MIN_BYTES = 32 << 20


def file_kind(path: Path) -> str:
    """``windows`` or ``series``: what the file at ``path`` holds (by its name and columns)."""
    if path.is_dir():
        if (path / BARS_CSV).is_file() and (path / LABELS_CSV).is_file():
            return "windows"
        raise DataValidationError(f"{path}: a data folder needs {BARS_CSV} and {LABELS_CSV}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        _, _, pq = import_pyarrow()
        try:
            names = pq.read_schema(path).names
        except Exception as exc:  # pyarrow raises several kinds; the message names the file
            raise DataValidationError(f"could not read {path} as parquet: {exc}") from exc
        return "windows" if "features" in names else "series"
    if suffix in (".csv", ".txt", ".npy"):
        return "series"
    raise DataValidationError(
        f"don't know how to open {path} as a store: give a windows .parquet, a folder with "
        f"{BARS_CSV} and {LABELS_CSV}, or a bar series (.csv, .parquet, .npy)"
    )


def content_digest(path: Path) -> str:
    """The digest of a file's bytes (of both CSVs for a data folder)."""
    if path.is_dir():
        parts = [file_digest(path / name) for name in (BARS_CSV, LABELS_CSV)]
        return array_digest(iter([("folder", np.frombuffer("".join(parts).encode(), np.uint8))]))
    return file_digest(path)


def read_bars(path: Path, window: int) -> np.ndarray:
    """A series file's (T, 4) float64 bars; a ``.npy`` is memory-mapped, not read."""
    if path.suffix.lower() == ".npy":
        try:
            bars = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataValidationError(f"could not read {path} as a .npy array: {exc}") from exc
        if bars.dtype != np.float64:
            raise DataValidationError(f"{path}: bars must be float64, got {bars.dtype}")
    else:
        bars = read_series(path)
    return check_bars(bars, window, str(path))


def open_store(
    path: str | Path,
    *,
    window: int = DEFAULT_WINDOW,
    feature_set: str | tuple[str, ...] | list[str] = DEFAULT_FEATURE_SET,
    inputs: str = "auto",
    settings: FeatureSettings | None = None,
    cache: bool | None = None,
    notify: Notify | None = None,
) -> SeriesStore:
    """The store of a windows file (labelled) or of a bar series file (unlabelled).

    ``cache``: keep it in a store folder (True), in memory (False), or decide by the file's
    size (None: on disk from :data:`CACHE_MIN_BYTES`).
    """
    path = Path(path)
    if not path.exists():
        raise DataValidationError(f"{path} does not exist")
    kind = file_kind(path)
    settings = settings or FeatureSettings()
    if cache is None:
        size = (
            sum(f.stat().st_size for f in path.iterdir()) if path.is_dir() else path.stat().st_size
        )
        cache = size >= CACHE_MIN_BYTES
    plan = ColumnPlan.of(feature_set)
    if kind == "series":  # unlabelled bars: per-series inputs, read only to build
        identity = identity_of("series", window, plan, "series", settings)
        lay: Lay = lambda: series_layout([read_bars(path, window)])  # noqa: E731
    else:
        semantics = resolve_semantics(inputs, feature_set)
        identity = identity_of("windows file", window, plan, semantics, settings)

        def lay() -> tuple[BarLayout, np.ndarray, dict[str, np.ndarray]]:
            if semantics == "series" and path.suffix.lower() == ".parquet":
                streamed = lay_windows_file(path, window)  # bar by bar, by start_bar
                if streamed is not None:
                    return streamed
            windows = load_windows(path, window=window)
            layout, bars, keys, position = lay_out(windows, semantics)
            return layout, bars, table_of(windows, layout, keys, position)

    return make_store(
        identity=identity,
        origin=lambda: {"path": str(path.resolve()), "digest": content_digest(path)},
        stem=path.name,
        source_path=path,
        cache=cache,
        window=window,
        plan=plan,
        settings=settings,
        notify=notify,
        lay=lay,
        threaded=True,
    )
