"""File formats: labelled windows (parquet in the original schema, a pair of CSVs) and bar
series (CSV or parquet), with the optional pyarrow import. Nothing here knows where data
comes from (that is :mod:`moola.data.sources`) or how windows are labelled.

Every loader checks the data before returning it and names the bad row (and bar), so a
broken file fails with a message the user can act on instead of a numpy traceback or,
worse, silently wrong targets.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from moola.atomic import atomic_write
from moola.data.series_checks import check_oldest_first, date_column, header_hint
from moola.data.windows import (
    DEFAULT_WINDOW,
    LABEL_NAMES,
    OHLCWindows,
    validate_labels,
    validate_ohlc,
)
from moola.errors import DataValidationError

#: Columns of the original parquet schema (one row per window).
REQUIRED_COLUMNS = ("features", "label", "expansion_start", "expansion_end")
#: Optional column: offset of the window's first bar in its series (makes the split chronological).
START_BAR = "start_bar"
#: Optional column beside start_bar: the series id of pooled windows (``moola.data.pooled``).
SERIES = "series"

BARS_CSV = "bars.csv"
LABELS_CSV = "labels.csv"
BARS_COLUMNS = ("window_id", "bar", "open", "high", "low", "close")
LABELS_COLUMNS = ("window_id", "label", "expansion_start", "expansion_end")

_LABEL_IDS = {name: i for i, name in enumerate(LABEL_NAMES)}
_VALID_LABELS = (
    f"valid labels are {', '.join(LABEL_NAMES)} (or their ids 0..{len(LABEL_NAMES) - 1})"
)


def import_pyarrow() -> tuple[Any, Any, Any]:
    """pyarrow is an optional extra: import it only when parquet is actually used."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError(
            "reading or writing parquet needs pyarrow; "
            "install it with: pip install 'moola[parquet]'"
        ) from exc
    return pa, pc, pq


def _label_id(value: object, where: str) -> int:
    """Map a label name (case-insensitive) or an in-range integer id to the class id."""
    if isinstance(value, str):
        key = value.strip().lower()
        if key in _LABEL_IDS:
            return _LABEL_IDS[key]
        if key.lstrip("-").isdigit():
            value = int(key)
        else:
            raise DataValidationError(f"{where}: unknown label {value!r}; {_VALID_LABELS}")
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if 0 <= int(value) < len(LABEL_NAMES):
            return int(value)
        raise DataValidationError(f"{where}: label id {value} is out of range; {_VALID_LABELS}")
    raise DataValidationError(f"{where}: unknown label {value!r}; {_VALID_LABELS}")


def _first_true(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def _read_features_column(
    column: Any, window: int, pa: Any, pc: Any, *, row0: int = 0, out: np.ndarray | None = None
) -> np.ndarray:
    """Turn the nested ``features`` column (rows of bars of 4 prices) into an (N, K, 4) array.

    Works on list, large_list and fixed_size_list columns without a Python loop over rows.
    ``column`` may be one batch of the file: ``row0`` is its first row (for the messages) and
    ``out`` the (N, K, 4) float64 rows it fills, so a file is read batch by batch into one
    array instead of holding Arrow's copy and numpy's at once.
    """
    if (
        not pa.types.is_list(column.type)
        and not pa.types.is_large_list(column.type)
        and not (pa.types.is_fixed_size_list(column.type))
    ):
        raise DataValidationError(
            f"column 'features' must hold one list of [open, high, low, close] bars per row, "
            f"got type {column.type}"
        )
    n = len(column)
    if column.null_count:
        row = _first_true(column.is_null().to_numpy(zero_copy_only=False))
        raise DataValidationError(f"row {row0 + row}: 'features' is missing (null)")
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    bad = lengths != window
    if bad.any():
        row = _first_true(bad)
        raise DataValidationError(
            f"row {row0 + row}: expected {window} bars in 'features', got {lengths[row]}"
        )

    bars = pc.list_flatten(column)
    if not (
        pa.types.is_list(bars.type)
        or pa.types.is_large_list(bars.type)
        or pa.types.is_fixed_size_list(bars.type)
    ):
        raise DataValidationError(
            f"row 0: each bar in 'features' must be a list of 4 prices [open, high, low, close], "
            f"got type {bars.type}"
        )
    if bars.null_count:
        row, bar = divmod(_first_true(bars.is_null().to_numpy(zero_copy_only=False)), window)
        raise DataValidationError(f"row {row0 + row}, bar {bar}: the bar is missing (null)")
    widths = pc.list_value_length(bars).to_numpy(zero_copy_only=False)
    bad = widths != 4
    if bad.any():
        row, bar = divmod(_first_true(bad), window)
        raise DataValidationError(
            f"row {row0 + row}, bar {bar}: expected 4 values [open, high, low, close], "
            f"got {widths[row * window + bar]}"
        )

    values = pc.list_flatten(bars)
    try:
        values = values.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise DataValidationError(
            f"column 'features' must hold numbers, got type {values.type}: {exc}"
        ) from exc
    # Nulls become NaN here; validate_ohlc then reports them with their row and bar.
    prices = values.to_numpy(zero_copy_only=False).reshape(n, window, 4)
    if out is None:
        return prices.astype(np.float64)
    out[...] = prices
    return out


def _index_column(column: Any, name: str, pa: Any) -> np.ndarray:
    """An integer column as int64, or as float64 (nulls -> NaN) for validation to name bad rows."""
    if pa.types.is_integer(column.type) and column.null_count == 0:
        return column.to_numpy(zero_copy_only=False).astype(np.int64)
    if (
        pa.types.is_integer(column.type)
        or pa.types.is_floating(column.type)
        or pa.types.is_null(column.type)
    ):
        return column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    raise DataValidationError(
        f"column {name!r} must hold integer bar indices, got type {column.type}"
    )


def load_parquet(path: str | os.PathLike[str], *, window: int = DEFAULT_WINDOW) -> OHLCWindows:
    """Load the original parquet schema: one row per window with ``REQUIRED_COLUMNS``."""
    pa, pc, pq = import_pyarrow()
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"parquet file {str(path)!r} does not exist")
    try:
        # The small columns whole; the prices (``features``, nearly all of the file) in batches.
        parquet = pq.ParquetFile(path)
        small = [c for c in parquet.schema_arrow.names if c != "features"]
        table = parquet.read(columns=small)
    except (pa.ArrowException, OSError) as exc:
        raise DataValidationError(f"could not read {str(path)!r} as parquet: {exc}") from exc
    names = parquet.schema_arrow.names
    try:
        return _windows_from_table(
            table,
            window,
            pa,
            pc,
            features=_batches(parquet, pa) if "features" in names else None,
            names=names,
        )
    except DataValidationError as exc:
        raise DataValidationError(f"{path}: {exc}") from exc


#: Rows of the ``features`` column converted at a time (about 14 MB of prices at K = 105).
READ_BATCH_ROWS = 4096


def _batches(parquet: Any, pa: Any, *, rows: int = READ_BATCH_ROWS) -> Iterator[Any]:
    """The ``features`` column of a parquet file, batch by batch."""
    try:
        for batch in parquet.iter_batches(batch_size=rows, columns=["features"]):
            yield batch.column(0)
    except (pa.ArrowException, OSError) as exc:
        raise DataValidationError(f"could not read the 'features' column: {exc}") from exc


@dataclass(frozen=True)
class WindowColumns:
    """The small columns of a windows file: everything but the prices, checked."""

    label: np.ndarray  # (N,) int64 class ids
    expansion_start: np.ndarray  # (N,) int64
    expansion_end: np.ndarray  # (N,) int64
    start_bar: np.ndarray | None  # (N,) int64, when the file has it
    series: np.ndarray | None  # (N,) int64, when the file has it (with start_bar)

    def __len__(self) -> int:
        return len(self.label)


def read_window_columns(path: str | os.PathLike[str], *, window: int) -> WindowColumns:
    """The labels (and ``start_bar``, ``series``) of a windows parquet file, without its
    prices: what a store built bar by bar from the file needs first. Checked as
    :func:`load_parquet` checks them; errors name the file and the row."""
    pa, _, pq = import_pyarrow()
    path = Path(path)
    try:
        parquet = pq.ParquetFile(path)
        names = parquet.schema_arrow.names
        table = parquet.read(columns=[c for c in names if c != "features"])
    except (pa.ArrowException, OSError) as exc:
        raise DataValidationError(f"could not read {str(path)!r} as parquet: {exc}") from exc
    try:
        _check_columns(list(names), table.num_rows)
        columns = _small_columns(table, pa)
        validate_labels(
            columns.label,
            columns.expansion_start,
            columns.expansion_end,
            window,
            n_classes=len(LABEL_NAMES),
        )
        # the container's own checks of start_bar and series (no prices needed)
        OHLCWindows(
            ohlc=np.empty((len(columns), 0, 4)),
            label=columns.label,
            expansion_start=columns.expansion_start,
            expansion_end=columns.expansion_end,
            start_bar=columns.start_bar,
            series=columns.series,
        )
    except DataValidationError as exc:
        raise DataValidationError(f"{path}: {exc}") from exc
    return columns


def iter_window_bars(
    path: str | os.PathLike[str], *, window: int, rows: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """The prices of a windows parquet file, ``rows`` windows at a time: (first row,
    (n, K, 4) float64 bars), each batch checked (shape, numbers, possible OHLC) with errors
    that name the file, the row and the bar. Only one batch is ever held (Arrow's buffers
    included, when the file was written in row groups of at most a few thousand rows, as
    :func:`save_parquet` writes them)."""
    pa, pc, pq = import_pyarrow()
    path = Path(path)
    try:
        parquet = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
    except (pa.ArrowException, OSError) as exc:
        raise DataValidationError(f"could not read {str(path)!r} as parquet: {exc}") from exc
    row0 = 0
    for column in _batches(parquet, pa, rows=rows or READ_BATCH_ROWS):
        try:
            bars = _read_features_column(column, window, pa, pc, row0=row0)
        except DataValidationError as exc:
            raise DataValidationError(f"{path}: {exc}") from exc
        try:
            validate_ohlc(bars, window=window)
        except DataValidationError as exc:  # "row R, bar B: ...", R counted in the batch
            first, _, rest = str(exc).removeprefix("row ").partition(",")
            raise DataValidationError(f"{path}: row {row0 + int(first)},{rest}") from exc
        yield row0, bars
        row0 += len(bars)


def _check_columns(present: list[str], n_rows: int) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in present]
    if missing:
        a_series = {"open", "high", "low", "close"} <= {c.lower() for c in present}
        raise DataValidationError(
            f"missing column(s) {missing}; the file has columns {present}, "
            f"and needs {list(REQUIRED_COLUMNS)}"
            + ("; it looks like a bar series: label it first (moola label)" if a_series else "")
        )
    if n_rows == 0:
        raise DataValidationError("the file has no rows")


def _small_columns(table: Any, pa: Any) -> WindowColumns:
    labels = table.column("label").to_pylist()
    label = np.array([_label_id(v, f"row {i}") for i, v in enumerate(labels)], dtype=np.int64)
    del labels
    start = _index_column(table.column("expansion_start").combine_chunks(), "expansion_start", pa)
    end = _index_column(table.column("expansion_end").combine_chunks(), "expansion_end", pa)
    start_bar = None
    if START_BAR in table.column_names:
        start_bar = _index_column(table.column(START_BAR).combine_chunks(), START_BAR, pa)
    series = None
    if SERIES in table.column_names:
        series = _index_column(table.column(SERIES).combine_chunks(), SERIES, pa)
    return WindowColumns(label, start, end, start_bar, series)


def _windows_from_table(
    table: Any,
    window: int,
    pa: Any,
    pc: Any,
    *,
    features: Iterator[Any] | None = None,
    names: Sequence[str] | None = None,
) -> OHLCWindows:
    """Check and convert a table in the original schema; errors name the row (and bar).

    ``features``, when given, yields the ``features`` column in batches (``table`` then
    holds the other columns, ``names`` all of the file's): they fill one (N, K, 4) array,
    batch by batch.
    """
    present = list(names) if names is not None else list(table.column_names)
    _check_columns(present, table.num_rows)

    if features is None:
        ohlc = _read_features_column(table.column("features").combine_chunks(), window, pa, pc)
    else:
        ohlc = np.empty((table.num_rows, window, 4), dtype=np.float64)
        row0 = 0
        for column in features:
            n = len(column)
            _read_features_column(column, window, pa, pc, row0=row0, out=ohlc[row0 : row0 + n])
            row0 += n
    columns = _small_columns(table, pa)
    windows = OHLCWindows(
        ohlc=ohlc,
        label=columns.label,
        expansion_start=columns.expansion_start,
        expansion_end=columns.expansion_end,
        start_bar=columns.start_bar,
        series=columns.series,
    )
    return windows.validate(n_classes=len(LABEL_NAMES))


#: Windows per row group of a written parquet file: a reader then holds one group's prices
#: (about 14 MB at K = 105) at a time, however long the file.
WRITE_GROUP_ROWS = 4096


def _windows_table(windows: OHLCWindows, pa: Any) -> Any:
    n, k = len(windows), windows.window
    prices = pa.array(windows.ohlc.reshape(-1), type=pa.float64())
    bars = pa.ListArray.from_arrays(
        pa.array(np.arange(0, n * k * 4 + 1, 4, dtype=np.int32)), prices
    )
    rows = pa.ListArray.from_arrays(pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)), bars)
    columns = {
        "features": rows,
        "label": pa.array([LABEL_NAMES[i] for i in windows.label], type=pa.string()),
        "expansion_start": pa.array(windows.expansion_start, type=pa.int64()),
        "expansion_end": pa.array(windows.expansion_end, type=pa.int64()),
    }
    if windows.start_bar is not None:
        columns[START_BAR] = pa.array(windows.start_bar, type=pa.int64())
    if windows.series is not None:
        columns[SERIES] = pa.array(windows.series, type=pa.int64())
    return pa.table(columns)


def save_parquet(windows: OHLCWindows, path: str | os.PathLike[str]) -> None:
    """Write windows in the original schema (labels as their string names)."""
    windows.validate(n_classes=len(LABEL_NAMES))
    rows = WRITE_GROUP_ROWS
    save_parquet_batches(
        path,
        (
            windows.subset(np.arange(a, min(a + rows, len(windows))))
            for a in range(0, len(windows), rows)
        ),
    )


def save_parquet_batches(path: str | os.PathLike[str], batches: Iterable[OHLCWindows]) -> int:
    """Write windows in the original schema from batches (each checked by its maker, all with
    the same optional columns), one row group per batch, atomically; returns the row count.
    What ``moola label`` writes: only one batch of windows is ever held."""
    pa, _, pq = import_pyarrow()
    written = 0

    def write(handle: Any) -> None:
        nonlocal written
        writer = None
        try:
            for batch in batches:
                table = _windows_table(batch, pa)
                if writer is None:
                    writer = pq.ParquetWriter(handle, table.schema)
                writer.write_table(table, row_group_size=max(1, len(batch)))
                written += len(batch)
            if writer is None:
                raise DataValidationError("no windows to write")
        finally:
            if writer is not None:
                writer.close()

    atomic_write(path, write)
    return written


def _read_csv(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) after checking the header names every needed column."""
    if not path.is_file():
        raise DataValidationError(f"CSV file {str(path)!r} does not exist")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        present = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in columns if c not in present]
        if missing:
            raise DataValidationError(
                f"{path}: missing column(s) {missing}; the file has columns {present}, "
                f"and needs {list(columns)}"
            )
        for row in reader:
            clean = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
            yield reader.line_num, clean


def _parse(value: str, kind: type, where: str, name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise DataValidationError(f"{where}: {name} must be {expected}, got {value!r}") from None


def load_csv(
    bars_path: str | os.PathLike[str],
    labels_path: str | os.PathLike[str],
    *,
    window: int | None = None,
) -> OHLCWindows:
    """Load windows from a bars CSV (one line per bar) and a labels CSV (one line per window).

    Windows come out in the order of the labels file; their bars must be numbered
    ``0..K-1`` (in any order) with the same K for every window.
    """
    bars_path, labels_path = Path(bars_path), Path(labels_path)
    order: list[str] = []
    label: list[int] = []
    start: list[int] = []
    end: list[int] = []
    start_bar: list[int] = []
    for line, row in _read_csv(labels_path, LABELS_COLUMNS):
        where = f"{labels_path} line {line} (window {row['window_id']!r})"
        if row["window_id"] in order:
            raise DataValidationError(f"{where}: window_id is listed twice")
        order.append(row["window_id"])
        label.append(_label_id(row["label"], where))
        start.append(_parse(row["expansion_start"], int, where, "expansion_start"))
        end.append(_parse(row["expansion_end"], int, where, "expansion_end"))
        if row.get(START_BAR, ""):
            start_bar.append(_parse(row[START_BAR], int, where, START_BAR))
    if not order:
        raise DataValidationError(f"{labels_path}: the file has no windows")

    bars: dict[str, dict[int, list[float]]] = {wid: {} for wid in order}
    for line, row in _read_csv(bars_path, BARS_COLUMNS):
        where = f"{bars_path} line {line} (window {row['window_id']!r})"
        if row["window_id"] not in bars:
            raise DataValidationError(f"{where}: window_id is not in {labels_path}")
        bar = _parse(row["bar"], int, where, "bar")
        prices = [_parse(row[c], float, where, c) for c in ("open", "high", "low", "close")]
        window_bars = bars[row["window_id"]]
        if bar in window_bars:
            raise DataValidationError(f"{where}: bar {bar} is listed twice")
        window_bars[bar] = prices

    expected = window
    for i, wid in enumerate(order):
        numbers = sorted(bars[wid])
        if expected is None:
            expected = len(numbers)
        if numbers != list(range(expected)):
            raise DataValidationError(
                f"row {i} (window {wid!r}): expected bars 0..{expected - 1} in {bars_path}, "
                f"got {len(numbers)} bars"
                + (f" numbered {numbers[0]}..{numbers[-1]}" if numbers else "")
            )
    assert expected is not None
    ohlc = np.array([[bars[wid][b] for b in range(expected)] for wid in order], dtype=np.float64)
    try:
        windows = OHLCWindows(
            ohlc=ohlc,
            label=np.array(label, dtype=np.int64),
            expansion_start=np.array(start, dtype=np.int64),
            expansion_end=np.array(end, dtype=np.int64),
            start_bar=np.array(start_bar, dtype=np.int64) if start_bar else None,
        )
        return windows.validate(n_classes=len(LABEL_NAMES))
    except DataValidationError as exc:
        raise DataValidationError(
            f"{bars_path} / {labels_path} (rows in labels order): {exc}"
        ) from exc


PRICE_COLUMNS = ("open", "high", "low", "close")


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
    pa, _, pq = import_pyarrow()
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
