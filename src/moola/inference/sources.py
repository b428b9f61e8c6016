"""What prediction reads: labelled windows (anything ``--data`` takes) or a raw bar series.

A raw series (a CSV or parquet of bars, or a (T, 4) array) is cut into the model's window
length every ``stride`` bars, aligned so that the **newest window ends on the last bar**:
that is the window a user of new data asks about. Labelled sources keep their windows and
labels, so prediction can be scored as training is.

The inputs are the model's (``inputs`` of its run, README "Inputs: per series or per
window"). A model trained on ``series`` inputs reads a series' windows from its series store
(each bar's features computed once along the series, :mod:`moola.data.store`), and labelled
windows from the store they lay out (shared bars detected, as training laid them); windows
given alone (an (N, K, 4) array) have no past, so each is its own series. A model trained
on ``window`` inputs reads every window's features built on the window alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from moola.data.corpus import corpus_of_windows
from moola.data.features import DEFAULT_FEATURE_SET, as_ohlc_array
from moola.data.files import read_series
from moola.data.labeling import LabelRule, check_series
from moola.data.sources import REAL_PREFIX, is_market_source, load_windows
from moola.data.store import SeriesStore, build_series_store
from moola.data.windows import OHLCWindows, validate_ohlc
from moola.errors import ConfigError, DataValidationError

#: Bars between window starts when a raw series is cut: ``moola label``'s.
DEFAULT_STRIDE = LabelRule().stride


@dataclass(frozen=True)
class PredictInput:
    """Windows to predict on: (N, K, 4) bars, where they start, and their labels if known.

    ``store`` and ``starts``, with ``series`` inputs: the store the windows' inputs are drawn
    from and each window's first bar in it (None: features built window by window)."""

    ohlc: np.ndarray
    start_bar: np.ndarray | None
    labelled: OHLCWindows | None
    store: SeriesStore | None = None
    starts: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.ohlc.shape[0])


def cut_series(
    series: Any,
    *,
    window: int,
    stride: int = DEFAULT_STRIDE,
    inputs: str = "window",
    feature_set: str = DEFAULT_FEATURE_SET,
) -> PredictInput:
    """Every ``stride`` bars a ``window``-bar window; the last one ends on the series' last
    bar. ``inputs="series"``: the windows are drawn from the series' store (``feature_set``)."""
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ConfigError(f"stride must be an integer >= 1, got {stride!r}")
    bars = check_series(series, window=window)
    last = bars.shape[0] - window
    starts = np.arange(last % stride, last + 1, stride, dtype=np.int64)
    # a strided view, not a copy: windows overlap, and prediction reads them chunk by chunk
    windows = np.lib.stride_tricks.sliding_window_view(bars, (window, 4))[:, 0]
    store = None
    if inputs == "series":  # every bar's features once, the whole series' past before each
        store = build_series_store([bars], window=window, feature_set=feature_set)
    return PredictInput(windows[starts[0] :: stride], starts, None, store, starts)


def labelled_input(labelled: OHLCWindows, *, inputs: str, feature_set: str) -> PredictInput:
    """Labelled windows to predict on; with ``series`` inputs laid onto their series as
    training lays them (their store, :func:`moola.data.corpus.corpus_of_windows`)."""
    labelled = labelled.validate()
    if inputs != "series":
        return PredictInput(labelled.ohlc, labelled.start_bar, labelled)
    corpus = corpus_of_windows(labelled, feature_set=feature_set, inputs="series")
    return PredictInput(labelled.ohlc, labelled.start_bar, labelled, corpus.store, corpus.starts())


def from_array(
    data: Any,
    *,
    window: int,
    stride: int = DEFAULT_STRIDE,
    inputs: str = "window",
    feature_set: str = DEFAULT_FEATURE_SET,
) -> PredictInput:
    """(N, K, 4) windows (each its own series: they come without their past), labelled
    windows, or a (T, 4) series to cut; K must be the model's window."""
    if isinstance(data, OHLCWindows):
        check_window(data.window, window)
        return labelled_input(data, inputs=inputs, feature_set=feature_set)
    arr = as_ohlc_array(data)
    if arr.ndim == 2:
        return cut_series(arr, window=window, stride=stride, inputs=inputs, feature_set=feature_set)
    if arr.shape[0] == 0:
        raise DataValidationError("no windows to predict on (an empty batch)")
    check_window(arr.shape[1], window)
    validate_ohlc(arr)
    return PredictInput(arr, None, None)


def check_window(got: int, window: int) -> None:
    if got != window:
        raise DataValidationError(
            f"the data has {got}-bar windows but the model was trained on {window}-bar windows; "
            f"cut the series with --window {window} (moola label) or pass the raw bar series"
        )


def from_source(
    source: str | os.PathLike[str],
    *,
    window: int,
    stride: int = DEFAULT_STRIDE,
    inputs: str = "window",
    feature_set: str = DEFAULT_FEATURE_SET,
) -> PredictInput:
    """A ``--data`` source (labelled windows; a named series cut every ``stride`` bars) or a
    bar-series file (CSV, or parquet with open/high/low/close columns)."""
    text = str(source)
    path = Path(source)
    options: dict[str, Any] = {"inputs": inputs, "feature_set": feature_set}
    named = text.strip().lower() == "synthetic" or text.startswith(REAL_PREFIX)
    if named or is_market_source(text) or path.is_dir():
        labelled = load_windows(source, window=window, stride=stride)
        return from_array(labelled, window=window, **options)
    if not path.is_file():
        raise DataValidationError(
            f"{text!r} does not exist; pass a bar series (CSV/parquet), labelled windows "
            "(.parquet from moola label, a folder with bars.csv + labels.csv), "
            "backtesting:EURUSD|GOOG, synthetic or synthetic:BARS[:seed]"
        )
    if path.suffix.lower() == ".parquet" and _is_windows_parquet(path):
        try:
            labelled = load_windows(path, window=window)
        except DataValidationError as exc:
            raise DataValidationError(
                f"{exc} (the model was trained on {window}-bar windows)"
            ) from None
        return from_array(labelled, window=window, **options)
    try:
        series = read_series(path)
    except DataValidationError as exc:
        raise DataValidationError(f"{exc} (a bar series needs open, high, low, close)") from None
    if series.shape[0] == 0:
        raise DataValidationError(f"{path}: the series has no bars")
    try:
        return cut_series(series, window=window, stride=stride, **options)
    except DataValidationError as exc:
        raise DataValidationError(f"{path}: {exc}") from None


def _is_windows_parquet(path: Path) -> bool:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("reading parquet needs pyarrow: pip install 'moola[parquet]'") from None
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError) as exc:
        raise DataValidationError(f"could not read {str(path)!r} as parquet: {exc}") from exc
    return "features" in names
