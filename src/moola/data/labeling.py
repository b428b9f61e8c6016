"""Cut a continuous OHLC series into labelled windows: a transparent rule, stated step by step.

Users have bar series, not pre-cut windows. ``label_series`` cuts a series into K-bar windows
(every ``stride`` bars) and labels each window on its own, by this rule:

1. **Unit.** ``u`` = the mean bar range (high − low) of the window. Every size below is in
   units of ``u``, so the rule does not depend on the price level or the volatility regime.
2. **Expansion.** Among all runs of consecutive bars ``s..e`` with ``min_length <= e − s + 1
   <= max_length`` that end at least ``aftermath`` bars before the window's end, take the one
   with the largest net move ``|close[e] − open[s]|`` (the earliest on ties). That run is the
   expansion (``expansion_start = s``, ``expansion_end = e``, inclusive), its direction
   ``d = sign(close[e] − open[s])`` and its size ``M = |close[e] − open[s]|``.
3. **Aftermath.** Over the ``aftermath`` bars after ``e``, follow the closes ``c`` in time:

   * *retracement* when ``d·(close[e] − c) >= retrace × M`` happens first (the price gives
     back at least ``retrace`` of the move);
   * *continuation* when ``d·(c − close[e]) >= extend × u`` happens first (the price goes on
     at least ``extend`` bar ranges beyond the expansion's end);
   * *consolidation* when neither happens.

The rule looks ahead (the aftermath decides the label): that is what labelling is, and the
features that the model sees stay causal. Defaults were chosen once, so that all three
classes occur with no class tiny, and are not tuned per file.

``start_bar`` (the offset of each window's first bar in the series) is kept, so that training
can split chronologically and purge overlapping windows (``moola.data.split_windows``).
"""

from __future__ import annotations

import csv
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from moola.data.series_checks import check_oldest_first, date_column, header_hint
from moola.data.windows import DEFAULT_WINDOW, LABEL_NAMES, OHLCWindows, validate_ohlc
from moola.errors import ConfigError, DataValidationError

PRICE_COLUMNS = ("open", "high", "low", "close")
#: Real bar files shipped by the ``backtesting`` package (AGPL-3.0: read at run time, never copied).
BACKTESTING_FILES = {"EURUSD": "EURUSD.csv", "GOOG": "GOOG.csv"}

_CONSOLIDATION, _RETRACEMENT, _CONTINUATION = (
    LABEL_NAMES.index("consolidation"),
    LABEL_NAMES.index("retracement"),
    LABEL_NAMES.index("continuation"),
)


@dataclass(frozen=True)
class LabelRule:
    """The parameters of the labelling rule (see the module docstring)."""

    window: int = DEFAULT_WINDOW
    stride: int = 15  # ~330 windows from 5000 bars
    min_length: int = 3
    max_length: int = 30
    aftermath: int = 20
    retrace: float = 0.5  # fraction of the move given back
    extend: float = 1.0  # bar ranges beyond the expansion's end

    def __post_init__(self) -> None:
        for name in ("window", "stride", "min_length", "max_length", "aftermath"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.min_length > self.max_length:
            raise ConfigError(
                f"min_length ({self.min_length}) must be <= max_length ({self.max_length})"
            )
        if self.min_length + self.aftermath > self.window:
            raise ConfigError(
                f"a {self.window}-bar window cannot hold an expansion of {self.min_length} "
                f"bars plus an aftermath of {self.aftermath}"
            )
        if not (self.retrace > 0 and self.extend > 0):
            raise ConfigError("retrace and extend must be > 0")


def label_window(ohlc: np.ndarray, rule: LabelRule) -> tuple[int, int, int]:
    """(label, expansion_start, expansion_end) of one (K, 4) window, by the documented rule."""
    o, h, lo, c = ohlc[:, 0], ohlc[:, 1], ohlc[:, 2], ohlc[:, 3]
    k = ohlc.shape[0]
    unit = float(np.mean(h - lo))
    if not unit > 0:
        unit = float(np.abs(c).mean()) * 1e-12 or 1e-12  # a flat window: any move is large
    last_end = k - 1 - rule.aftermath  # the latest bar an expansion may end on
    best_move, best_start, best_end = -1.0, 0, rule.min_length - 1
    for length in range(rule.min_length, min(rule.max_length, last_end + 1) + 1):
        starts = np.arange(0, last_end - length + 2)
        moves = np.abs(c[starts + length - 1] - o[starts])
        i = int(np.argmax(moves))
        if moves[i] > best_move:
            best_move, best_start, best_end = (
                float(moves[i]),
                int(starts[i]),
                int(starts[i]) + length - 1,
            )
    direction = 1.0 if c[best_end] >= o[best_start] else -1.0
    after = c[best_end + 1 : best_end + 1 + rule.aftermath]
    gave_back = direction * (c[best_end] - after) >= rule.retrace * best_move
    went_on = direction * (after - c[best_end]) >= rule.extend * unit
    first_back = int(np.argmax(gave_back)) if gave_back.any() else len(after)
    first_on = int(np.argmax(went_on)) if went_on.any() else len(after)
    if first_back < first_on:
        label = _RETRACEMENT
    elif first_on < first_back:
        label = _CONTINUATION
    else:
        label = _CONSOLIDATION  # neither happened (both cannot happen on the same close)
    return label, best_start, best_end


def label_series(series: np.ndarray, rule: LabelRule | None = None) -> OHLCWindows:
    """Cut a (T, 4) [open, high, low, close] series into labelled windows with ``start_bar``."""
    rule = rule or LabelRule()
    bars = check_series(series, window=rule.window)
    starts = np.arange(0, bars.shape[0] - rule.window + 1, rule.stride)
    ohlc = np.stack([bars[s : s + rule.window] for s in starts])
    labels = np.array([label_window(w, rule) for w in ohlc], dtype=np.int64).reshape(-1, 3)
    return OHLCWindows(
        ohlc=ohlc,
        label=labels[:, 0],
        expansion_start=labels[:, 1],
        expansion_end=labels[:, 2],
        start_bar=starts,
    ).validate(n_classes=len(LABEL_NAMES))


def check_series(series: Any, *, window: int, source: str = "series") -> np.ndarray:
    """A (T, 4) float64 array of possible bars, at least one window long; errors name the row."""
    bars = np.asarray(series, dtype=np.float64)
    if bars.ndim != 2 or bars.shape[1] != 4:
        raise DataValidationError(
            f"{source}: expected (T, 4) bars [open, high, low, close], got {tuple(bars.shape)}"
        )
    if bars.shape[0] < window:
        raise DataValidationError(
            f"{source}: has {bars.shape[0]} bars, fewer than one {window}-bar window"
        )
    try:
        validate_ohlc(bars[None], window=bars.shape[0])
    except DataValidationError as exc:
        # validate_ohlc names "row 0, bar B": in a series the bar is the row.
        message = str(exc).removeprefix("row 0, bar ")
        raise DataValidationError(f"{source}: row {message}") from None
    return bars


def read_series(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a bar series from CSV or parquet: open/high/low/close columns, any case, any order.

    Other columns (a time or date column, volume) are ignored; rows are taken in file order.
    Errors name the file and the row (data row 0 is the first bar).
    """
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"series file {str(path)!r} does not exist")
    if path.suffix.lower() == ".parquet":
        return _read_series_parquet(path)
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise DataValidationError(f"{path}: the file is empty")
        index = _price_columns([h.strip() for h in header], path)
        when = date_column(header)
        dates: list[str] = []  # the first and the latest value of the time column
        rows: list[list[float]] = []
        for row_number, row in enumerate(reader):
            if not row:
                continue
            if when is not None and when < len(row):
                dates[min(len(dates), 1) :] = [row[when]]  # keep the first, track the last
            try:
                rows.append([float(row[i]) for i in index])
            except (ValueError, IndexError):
                values = [row[i] if i < len(row) else "<missing>" for i in index]
                raise DataValidationError(
                    f"{path}: row {row_number} (line {reader.line_num}): "
                    f"open, high, low, close must be numbers, got {values}"
                ) from None
    if when is not None and len(dates) == 2:
        check_oldest_first(dates[0], dates[1], header[when], str(path))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def _price_columns(names: list[str], path: Path) -> list[int]:
    lower = [n.lower() for n in names]
    missing = [c for c in PRICE_COLUMNS if c not in lower]
    if missing:
        raise DataValidationError(
            f"{path}: missing column(s) {missing} (case-insensitive); the file has {names}"
            + header_hint(names)
        )
    return [lower.index(c) for c in PRICE_COLUMNS]


def _read_series_parquet(path: Path) -> np.ndarray:
    from moola.data.loaders import _import_pyarrow

    pa, _, pq = _import_pyarrow()
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataValidationError(f"could not read {str(path)!r} as parquet: {exc}") from exc
    index = _price_columns(list(table.column_names), path)
    when = date_column(list(table.column_names))
    if when is not None and table.num_rows >= 2:
        times = table.column(when)
        check_oldest_first(times[0].as_py(), times[-1].as_py(), table.column_names[when], str(path))
    try:
        columns = [table.column(i).cast(pa.float64()).to_numpy(zero_copy_only=False) for i in index]
    except pa.ArrowException as exc:
        raise DataValidationError(f"{path}: price columns must be numeric: {exc}") from exc
    return np.stack(columns, axis=1)


def label_file(path: str | os.PathLike[str], rule: LabelRule | None = None) -> OHLCWindows:
    """``read_series`` then ``label_series``; errors name the file."""
    rule = rule or LabelRule()
    series = read_series(path)
    try:
        return label_series(series, rule)
    except DataValidationError as exc:
        raise DataValidationError(f"{path}: {exc}") from None


def backtesting_series_path(name: str) -> Path | None:
    """Path of a bar file shipped by the installed ``backtesting`` package (None without it).

    Found through the import system without importing ``backtesting`` (which imports bokeh).
    The files are AGPL-3.0: they are read where they are installed and never copied here.
    """
    if name not in BACKTESTING_FILES:
        raise ConfigError(f"unknown series {name!r}; choose one of {sorted(BACKTESTING_FILES)}")
    spec = importlib.util.find_spec("backtesting")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "test" / BACKTESTING_FILES[name]
        if path.is_file():
            return path
    return None
