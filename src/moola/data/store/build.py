"""Build a store from labelled windows or from bar series, in memory or in its cache folder.

:func:`build_store` lays windows onto their series (:mod:`moola.data.store.layout`),
computes every bar's stored columns once (:mod:`moola.data.store.engine`) and keeps each
window's start and labels. :func:`build_series_store` does the same for unlabelled bar
series (pretraining draws their windows with :meth:`SeriesStore.dense`). With
``cache=True`` the arrays are written to a memory-mapped store folder named by everything
they depend on (:mod:`moola.data.store.cache`) and reused from there while nothing changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from moola.data.features import DEFAULT_FEATURE_SET
from moola.data.features.candles import FeatureSettings
from moola.data.labeling import LabelRule, check_series, label_starts, series_starts
from moola.data.overlap import SeriesLayout
from moola.data.store.assemble import Notify, identity_of, make_store
from moola.data.store.digest import array_digest
from moola.data.store.layout import BarLayout, lay_out, plan_segments
from moola.data.store.plan import ColumnPlan, resolve_semantics
from moola.data.store.store import SeriesStore
from moola.data.windows import (
    DEFAULT_WINDOW,
    LABEL_NAMES,
    OHLCWindows,
    ohlc_is_valid,
    validate_labels,
    validate_ohlc,
)
from moola.errors import DataValidationError


def _windows_digest(windows: OHLCWindows) -> str:
    def arrays() -> Iterator[tuple[str, np.ndarray | None]]:
        yield "ohlc", windows.ohlc
        yield "label", windows.label
        yield "expansion_start", windows.expansion_start
        yield "expansion_end", windows.expansion_end
        yield "start_bar", windows.start_bar
        yield "series", windows.series

    return array_digest(arrays())


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
        digest = source_digest or array_digest((f"{i}", s) for i, s in enumerate(checked))
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


def build_labelled_series(
    bars: Any,
    rule: LabelRule,
    *,
    feature_set: str | tuple[str, ...] | list[str] = DEFAULT_FEATURE_SET,
    settings: FeatureSettings | None = None,
    cache: bool = False,
    source: str | Path | None = None,
    source_digest: str | None = None,
    notify: Notify | None = None,
) -> SeriesStore:
    """The labelled store of one bar series cut by ``rule`` (``moola label``'s windows,
    labelled on the fly): ``series`` inputs, each bar stored once whatever the stride.

    The same store, array for array (so the same fingerprint), as ``build_store`` of
    ``label_series(bars, rule)``: the bars from the first window's start to the last
    window's end, the windows' global starts, their labels and ``(0, start_bar)``. The
    windows' bars are never cut out (:func:`moola.data.labeling.label_starts` labels them a
    chunk at a time). ``source_digest``: the content digest of the file the bars came from.
    """
    settings = settings or FeatureSettings()
    plan = ColumnPlan.of(feature_set)
    path = Path(source) if source is not None else None
    what = str(path) if path is not None else "series"
    checked = check_bars(bars, rule.window, what)
    identity = identity_of("labelled series", rule.window, plan, "series", settings)

    def origin() -> dict[str, Any]:
        digest = source_digest or array_digest(iter([("0", checked)]))
        described: dict[str, Any] = {"digest": digest, "rule": asdict(rule)}
        if path is not None:
            described["path"] = str(path.resolve())
        return described

    def lay() -> tuple[BarLayout, np.ndarray, dict[str, np.ndarray]]:
        position = series_starts(len(checked), rule)
        keys = np.zeros(len(position), dtype=np.int64)
        layout = plan_segments(keys, position, rule.window)
        # segment s: the bars from its first window's start on (windows are in start order)
        first_rows = np.flatnonzero(np.r_[True, position[1:] > position[:-1] + rule.window])
        pieces = [
            checked[position[r] : position[r] + int(n)] for r, n in zip(first_rows, layout.lengths)
        ]
        laid = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        table = {
            "starts": layout.starts,
            "labels": label_starts(checked, position, rule),
            "source": np.stack([keys, position], axis=1),
        }
        return layout, laid, table

    return make_store(
        identity=identity,
        origin=origin,
        stem=path.name if path is not None else "series",
        source_path=path,
        cache=cache,
        window=rule.window,
        plan=plan,
        settings=settings,
        notify=notify,
        lay=lay,
        threaded=True,
    )
