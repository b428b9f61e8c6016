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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from moola.atomic import atomic_write
from moola.data.series_checks import check_oldest_first, date_column, header_hint
from moola.data.windows import DEFAULT_WINDOW, LABEL_NAMES, OHLCWindows
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


def _batches(parquet: Any, pa: Any) -> Iterator[Any]:
    """The ``features`` column of a parquet file, batch by batch."""
    try:
        for batch in parquet.iter_batches(batch_size=READ_BATCH_ROWS, columns=["features"]):
            yield batch.column(0)
    except (pa.ArrowException, OSError) as exc:
        raise DataValidationError(f"could not read the 'features' column: {exc}") from exc


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
    missing = [c for c in REQUIRED_COLUMNS if c not in present]
    if missing:
        a_series = {"open", "high", "low", "close"} <= {c.lower() for c in present}
        raise DataValidationError(
            f"missing column(s) {missing}; the file has columns {present}, "
            f"and needs {list(REQUIRED_COLUMNS)}"
            + ("; it looks like a bar series: label it first (moola label)" if a_series else "")
        )
    if table.num_rows == 0:
        raise DataValidationError("the file has no rows")

    if features is None:
        ohlc = _read_features_column(table.column("features").combine_chunks(), window, pa, pc)
    else:
        ohlc = np.empty((table.num_rows, window, 4), dtype=np.float64)
        row0 = 0
        for column in features:
            n = len(column)
            _read_features_column(column, window, pa, pc, row0=row0, out=ohlc[row0 : row0 + n])
            row0 += n
    labels = table.column("label").to_pylist()
    label = np.array([_label_id(v, f"row {i}") for i, v in enumerate(labels)], dtype=np.int64)
    start = _index_column(table.column("expansion_start").combine_chunks(), "expansion_start", pa)
    end = _index_column(table.column("expansion_end").combine_chunks(), "expansion_end", pa)
    start_bar = None
    if START_BAR in table.column_names:
        start_bar = _index_column(table.column(START_BAR).combine_chunks(), START_BAR, pa)
    series = None
    if SERIES in table.column_names:
        series = _index_column(table.column(SERIES).combine_chunks(), SERIES, pa)
    windows = OHLCWindows(
        ohlc=ohlc,
        label=label,
        expansion_start=start,
        expansion_end=end,
        start_bar=start_bar,
        series=series,
    )
    return windows.validate(n_classes=len(LABEL_NAMES))


def save_parquet(windows: OHLCWindows, path: str | os.PathLike[str]) -> None:
    """Write windows in the original schema (labels as their string names)."""
    pa, _, pq = import_pyarrow()
    windows.validate(n_classes=len(LABEL_NAMES))
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
    table = pa.table(columns)
    atomic_write(path, lambda handle: pq.write_table(table, handle))


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
