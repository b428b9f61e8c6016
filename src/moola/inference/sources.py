"""What prediction reads: labelled windows (anything ``--data`` takes) or a raw bar series.

A raw series (a CSV or parquet of bars, or a (T, 4) array) is cut into the model's window
length every ``stride`` bars, aligned so that the **newest window ends on the last bar**:
that is the window a user of new data asks about. Labelled sources keep their windows and
labels, so prediction can be scored as training is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from moola.data.features import as_ohlc_array
from moola.data.files import read_series
from moola.data.labeling import LabelRule, check_series
from moola.data.sources import REAL_PREFIX, is_market_source, load_windows
from moola.data.windows import OHLCWindows, validate_ohlc
from moola.errors import ConfigError, DataValidationError

#: Bars between window starts when a raw series is cut: ``moola label``'s.
DEFAULT_STRIDE = LabelRule().stride


@dataclass(frozen=True)
class PredictInput:
    """Windows to predict on: (N, K, 4) bars, where they start, and their labels if known."""

    ohlc: np.ndarray
    start_bar: np.ndarray | None
    labelled: OHLCWindows | None

    def __len__(self) -> int:
        return int(self.ohlc.shape[0])


def cut_series(series: Any, *, window: int, stride: int = DEFAULT_STRIDE) -> PredictInput:
    """Every ``stride`` bars a ``window``-bar window; the last one ends on the series' last bar."""
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ConfigError(f"stride must be an integer >= 1, got {stride!r}")
    bars = check_series(series, window=window)
    last = bars.shape[0] - window
    starts = np.arange(last % stride, last + 1, stride, dtype=np.int64)
    # a strided view, not a copy: windows overlap, and prediction reads them chunk by chunk
    windows = np.lib.stride_tricks.sliding_window_view(bars, (window, 4))[:, 0]
    return PredictInput(windows[starts[0] :: stride], starts, None)


def from_array(data: Any, *, window: int, stride: int = DEFAULT_STRIDE) -> PredictInput:
    """(N, K, 4) windows, or a (T, 4) series to cut; K must be the model's window."""
    if isinstance(data, OHLCWindows):
        check_window(data.window, window)
        return PredictInput(data.ohlc, data.start_bar, data.validate())
    arr = as_ohlc_array(data)
    if arr.ndim == 2:
        return cut_series(arr, window=window, stride=stride)
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
    source: str | os.PathLike[str], *, window: int, stride: int = DEFAULT_STRIDE
) -> PredictInput:
    """A ``--data`` source (labelled windows) or a bar-series file (CSV, or parquet with
    open/high/low/close columns)."""
    text = str(source)
    path = Path(source)
    named = text.strip().lower() == "synthetic" or text.startswith(REAL_PREFIX)
    if named or is_market_source(text) or path.is_dir():
        return from_array(load_windows(source, window=window), window=window)
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
        return from_array(labelled, window=window)
    try:
        series = read_series(path)
    except DataValidationError as exc:
        raise DataValidationError(f"{exc} (a bar series needs open, high, low, close)") from None
    if series.shape[0] == 0:
        raise DataValidationError(f"{path}: the series has no bars")
    try:
        return cut_series(series, window=window, stride=stride)
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
