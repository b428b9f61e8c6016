"""Loaders: parquet and CSV round trips, and errors that name the bad row."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest

from moola.data import (
    LABEL_NAMES,
    OHLCWindows,
    generate_synthetic,
    load_csv,
    load_parquet,
    load_windows,
    save_parquet,
)
from moola.errors import DataValidationError


def _windows(n: int = 6, window: int = 105, seed: int = 1) -> OHLCWindows:
    return generate_synthetic(n_windows=n, window=window, seed=seed)


def _assert_same(a: OHLCWindows, b: OHLCWindows) -> None:
    np.testing.assert_array_equal(a.ohlc, b.ohlc)
    np.testing.assert_array_equal(a.label, b.label)
    np.testing.assert_array_equal(a.expansion_start, b.expansion_start)
    np.testing.assert_array_equal(a.expansion_end, b.expansion_end)


# ---------------------------------------------------------------- parquet


def _columns(w: OHLCWindows) -> dict[str, list]:
    """The original schema as plain Python lists, easy to break one value at a time."""
    return {
        "features": w.ohlc.tolist(),
        "label": [LABEL_NAMES[i] for i in w.label],
        "expansion_start": w.expansion_start.tolist(),
        "expansion_end": w.expansion_end.tolist(),
    }


def _write(path: Path, columns: dict[str, list]) -> Path:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table(columns), path)
    return path


def test_parquet_round_trip(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    w = _windows()
    save_parquet(w, tmp_path / "w.parquet")
    _assert_same(load_parquet(tmp_path / "w.parquet"), w)
    table = pq.read_table(tmp_path / "w.parquet")
    assert table.column("label").to_pylist() == [LABEL_NAMES[i] for i in w.label]


def test_parquet_written_from_python_lists_loads(tmp_path):
    w = _windows(window=32)
    loaded = load_parquet(_write(tmp_path / "w.parquet", _columns(w)), window=32)
    _assert_same(loaded, w)


def test_parquet_accepts_integer_and_capitalised_labels(tmp_path):
    w = _windows(n=3)
    cols = _columns(w)
    cols["label"] = [0, 1, 2]
    assert load_parquet(_write(tmp_path / "ints.parquet", cols)).label.tolist() == [0, 1, 2]
    cols["label"] = ["Consolidation", "RETRACEMENT", "continuation"]
    assert load_parquet(_write(tmp_path / "names.parquet", cols)).label.tolist() == [0, 1, 2]


def test_parquet_missing_column_is_named(tmp_path):
    cols = _columns(_windows())
    del cols["expansion_end"]
    with pytest.raises(
        DataValidationError, match=r"missing column\(s\) \['expansion_end'\].*expansion_start"
    ):
        load_parquet(_write(tmp_path / "w.parquet", cols))


def test_parquet_wrong_window_length_names_row(tmp_path):
    cols = _columns(_windows())
    cols["features"][2] = cols["features"][2][:104]
    with pytest.raises(DataValidationError, match=r"row 2: expected 105 bars.*got 104"):
        load_parquet(_write(tmp_path / "w.parquet", cols))


@pytest.mark.parametrize("rows", [1, 4, 10_000])
def test_parquet_prices_are_read_in_batches(tmp_path, monkeypatch, rows):
    """The prices come batch by batch into one array: same windows, and an error in a later
    batch names its row in the file, not in the batch."""
    import moola.data.files as files

    monkeypatch.setattr(files, "READ_BATCH_ROWS", rows)
    w = _windows(n=10)
    save_parquet(w, tmp_path / "w.parquet")
    _assert_same(load_parquet(tmp_path / "w.parquet"), w)
    cols = _columns(w)
    cols["features"][7] = cols["features"][7][:104]
    with pytest.raises(DataValidationError, match=r"row 7: expected 105 bars.*got 104"):
        load_parquet(_write(tmp_path / "bad.parquet", cols))
    cols = _columns(w)
    cols["features"][9][3] = cols["features"][9][3][:3]
    with pytest.raises(DataValidationError, match=r"row 9, bar 3: expected 4 values.*got 3"):
        load_parquet(_write(tmp_path / "bad2.parquet", cols))


def test_parquet_window_argument_is_checked(tmp_path):
    path = _write(tmp_path / "w.parquet", _columns(_windows()))
    with pytest.raises(DataValidationError, match=r"row 0: expected 64 bars"):
        load_parquet(path, window=64)


def test_parquet_bad_bar_width_names_row_and_bar(tmp_path):
    cols = _columns(_windows())
    cols["features"][1][5] = cols["features"][1][5][:3]
    with pytest.raises(DataValidationError, match=r"row 1, bar 5: expected 4 values.*got 3"):
        load_parquet(_write(tmp_path / "w.parquet", cols))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), None])
def test_parquet_non_finite_price_names_row_and_bar(tmp_path, bad):
    cols = _columns(_windows())
    cols["features"][3][7][2] = bad
    with pytest.raises(DataValidationError, match=r"row 3, bar 7: has a NaN or infinite price"):
        load_parquet(_write(tmp_path / "w.parquet", cols))


def test_parquet_impossible_bar_names_row_and_bar(tmp_path):
    cols = _columns(_windows())
    o, _, lo, c = cols["features"][4][9]
    cols["features"][4][9] = [o, lo * 0.5, lo, c]  # high below low
    with pytest.raises(DataValidationError, match=r"row 4, bar 9: high < low"):
        load_parquet(_write(tmp_path / "w.parquet", cols))


def test_parquet_unknown_label_names_row_value_and_valid_names(tmp_path):
    cols = _columns(_windows())
    cols["label"][2] = "breakout"
    with pytest.raises(
        DataValidationError, match=r"row 2: unknown label 'breakout'.*consolidation, retracement"
    ):
        load_parquet(_write(tmp_path / "w.parquet", cols))


def test_parquet_out_of_range_integer_label_names_row(tmp_path):
    cols = _columns(_windows())
    cols["label"] = [0, 1, 2, 3, 0, 1]
    with pytest.raises(DataValidationError, match=r"row 3: label id 3 is out of range"):
        load_parquet(_write(tmp_path / "w.parquet", cols))


@pytest.mark.parametrize(
    ("start", "end", "match"),
    [
        (60, 50, r"row 1: expansion_start \(60\) > expansion_end \(50\)"),
        (-1, 50, r"row 1: expansion_start \(-1\) is negative"),
        (10, 105, r"row 1: expansion_end \(105\) is past the last bar"),
    ],
)
def test_parquet_bad_span_names_row(tmp_path, start, end, match):
    cols = _columns(_windows())
    cols["expansion_start"][1] = start
    cols["expansion_end"][1] = end
    with pytest.raises(DataValidationError, match=match):
        load_parquet(_write(tmp_path / "w.parquet", cols))


def test_parquet_missing_span_value_names_row(tmp_path):
    cols = _columns(_windows())
    cols["expansion_start"][4] = None
    with pytest.raises(DataValidationError, match=r"row 4: expansion_start must be a whole number"):
        load_parquet(_write(tmp_path / "w.parquet", cols))


def test_parquet_null_window_names_row(tmp_path):
    cols = _columns(_windows())
    cols["features"][5] = None
    with pytest.raises(DataValidationError, match=r"row 5: 'features' is missing"):
        load_parquet(_write(tmp_path / "w.parquet", cols))


def test_parquet_missing_file_is_clear(tmp_path):
    pytest.importorskip("pyarrow")
    with pytest.raises(DataValidationError, match="does not exist"):
        load_parquet(tmp_path / "nope.parquet")


def test_parquet_without_pyarrow_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"pip install 'moola\[parquet\]'"):
        load_parquet(tmp_path / "w.parquet")


# ---------------------------------------------------------------- CSV


def _write_csv(directory: Path, w: OHLCWindows) -> tuple[Path, Path]:
    bars, labels = directory / "bars.csv", directory / "labels.csv"
    with bars.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["window_id", "bar", "open", "high", "low", "close"])
        for i in range(len(w)):
            for b in range(w.window):
                writer.writerow([f"w{i}", b, *(repr(float(v)) for v in w.ohlc[i, b])])
    with labels.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["window_id", "label", "expansion_start", "expansion_end"])
        for i in range(len(w)):
            writer.writerow(
                [f"w{i}", LABEL_NAMES[w.label[i]], w.expansion_start[i], w.expansion_end[i]]
            )
    return bars, labels


def _edit_lines(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


def test_csv_round_trip(tmp_path):
    w = _windows(window=20)
    bars, labels = _write_csv(tmp_path, w)
    _assert_same(load_csv(bars, labels), w)
    _assert_same(load_csv(bars, labels, window=20), w)


def test_csv_bars_may_come_in_any_order(tmp_path):
    w = _windows(n=3, window=16)
    bars, labels = _write_csv(tmp_path, w)
    _edit_lines(bars, lambda lines: [lines[0], *reversed(lines[1:])])
    _assert_same(load_csv(bars, labels), w)


def test_csv_missing_column_is_named(tmp_path):
    bars, labels = _write_csv(tmp_path, _windows(n=2, window=16))
    _edit_lines(labels, lambda lines: [",".join(line.split(",")[:3]) for line in lines])
    with pytest.raises(DataValidationError, match=r"missing column\(s\) \['expansion_end'\]"):
        load_csv(bars, labels)


def test_csv_bad_number_names_the_line(tmp_path):
    bars, labels = _write_csv(tmp_path, _windows(n=2, window=16))
    _edit_lines(bars, lambda lines: [*lines[:5], "w0,4,abc,1,1,1", *lines[6:]])
    with pytest.raises(
        DataValidationError, match=r"bars.csv line 6 \(window 'w0'\): open must be a number"
    ):
        load_csv(bars, labels)


def test_csv_missing_bar_names_the_window(tmp_path):
    bars, labels = _write_csv(tmp_path, _windows(n=3, window=16))
    _edit_lines(bars, lambda lines: [line for line in lines if not line.startswith("w1,3,")])
    with pytest.raises(DataValidationError, match=r"row 1 \(window 'w1'\): expected bars 0\.\.15"):
        load_csv(bars, labels)


def test_csv_window_length_mismatch(tmp_path):
    bars, labels = _write_csv(tmp_path, _windows(n=2, window=16))
    with pytest.raises(DataValidationError, match=r"row 0 \(window 'w0'\): expected bars 0\.\.104"):
        load_csv(bars, labels, window=105)


def test_csv_unknown_label_and_bad_span(tmp_path):
    bars, labels = _write_csv(tmp_path, _windows(n=3, window=16))
    original = labels.read_text()
    _edit_lines(labels, lambda lines: [*lines[:2], "w1,breakout,3,5", *lines[3:]])
    with pytest.raises(
        DataValidationError, match=r"labels.csv line 3 \(window 'w1'\): unknown label 'breakout'"
    ):
        load_csv(bars, labels)
    labels.write_text(original)
    _edit_lines(labels, lambda lines: [*lines[:3], "w2,retracement,9,4", *lines[4:]])
    with pytest.raises(
        DataValidationError, match=r"row 2: expansion_start \(9\) > expansion_end \(4\)"
    ):
        load_csv(bars, labels)


def test_csv_duplicate_and_unknown_windows(tmp_path):
    bars, labels = _write_csv(tmp_path, _windows(n=2, window=16))
    _edit_lines(bars, lambda lines: [*lines, "zz,0,1,1,1,1"])
    with pytest.raises(DataValidationError, match=r"window 'zz'\): window_id is not in"):
        load_csv(bars, labels)
    _edit_lines(bars, lambda lines: [*lines[:-1], lines[1]])
    with pytest.raises(DataValidationError, match=r"window 'w0'\): bar 0 is listed twice"):
        load_csv(bars, labels)


# ---------------------------------------------------------------- load_windows


def test_load_windows_synthetic():
    w = load_windows("synthetic", window=32)
    assert len(w) == 1024 and w.window == 32


def test_load_windows_dispatches_to_parquet_and_csv(tmp_path):
    pytest.importorskip("pyarrow")
    w = _windows(window=24)
    save_parquet(w, tmp_path / "w.parquet")
    _assert_same(load_windows(tmp_path / "w.parquet", window=24), w)
    _write_csv(tmp_path, w)
    _assert_same(load_windows(str(tmp_path), window=24), w)


def test_load_windows_rejects_unknown_and_missing_sources(tmp_path):
    other = tmp_path / "data.txt"
    other.write_text("hello")
    with pytest.raises(
        DataValidationError,
        match=r"accepted sources are 'synthetic', synthetic:BARS\[:seed\], backtesting:EURUSD, "
        r"backtesting:GOOG, a \.parquet file",
    ):
        load_windows(other)
    with pytest.raises(DataValidationError, match=r"does not exist"):
        load_windows(tmp_path / "missing.parquet")
    with pytest.raises(DataValidationError, match=r"does not exist"):
        load_windows(tmp_path / "nowhere")
    with pytest.raises(DataValidationError, match=r"has no bars\.csv or labels\.csv"):
        load_windows(tmp_path)


def test_real_series_source_labels_the_installed_bars_like_moola_label() -> None:
    from moola.data.sources import backtesting_series_path, label_file

    path = backtesting_series_path("GOOG")
    if path is None:
        pytest.skip("the backtesting package (moola[real]) is not installed")
    windows = load_windows("backtesting:GOOG")
    expected = label_file(path)
    assert np.array_equal(windows.ohlc, expected.ohlc)
    assert np.array_equal(windows.label, expected.label)
    assert windows.start_bar is not None and np.array_equal(windows.start_bar, expected.start_bar)


def test_unknown_real_series_names_the_valid_ones() -> None:
    with pytest.raises(DataValidationError, match=r"backtesting:EURUSD, backtesting:GOOG"):
        load_windows("backtesting:BTC")
