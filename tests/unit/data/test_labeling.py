"""``moola label``: the labelling rule on hand-built series, series reading, and the honest split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from moola.cli import main
from moola.data import (
    LABEL_NAMES,
    OHLCWindows,
    SyntheticConfig,
    chronological_split,
    generate_synthetic,
    load_windows,
    split_windows,
    train_val_split,
)
from moola.data.files import read_series
from moola.data.labeling import LabelRule, label_series, label_window
from moola.errors import ConfigError, DataValidationError

RULE = LabelRule(window=30, stride=5, min_length=3, max_length=5, aftermath=10)


def bars_from_closes(closes: list[float]) -> np.ndarray:
    """Bars whose open is the previous close and whose wicks stick out 0.25 on each side."""
    c = np.asarray(closes, dtype=np.float64)
    o = np.concatenate([[c[0]], c[:-1]])
    return np.stack([o, np.maximum(o, c) + 0.25, np.minimum(o, c) - 0.25, c], axis=1)


def window_with_aftermath(after: list[float]) -> np.ndarray:
    """Flat at 100, an expansion of +2 per bar on bars 14..18 (100 -> 110), a flat bar 19 at 110,
    then ``after`` as the closes of bars 20..29. Runs must end by bar 19 (30 - 1 - 10), so the
    largest net move of 3..5 bars is bars 14..18 (+10); the mean bar range u is about 0.83."""
    closes = [100.0] * 14 + [102.0, 104.0, 106.0, 108.0, 110.0, 110.0] + after
    assert len(closes) == 30
    return bars_from_closes(closes)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ([108.0, 106.0, 104.0] + [104.0] * 7, "retracement"),  # gives back 6 >= 0.5 * 10
        ([111.0, 112.0, 113.0] + [113.0] * 7, "continuation"),  # goes on 3 >= 1 * u beyond 110
        ([110.3, 109.8, 110.2] + [110.0] * 7, "consolidation"),  # neither
        ([104.0, 113.0] + [113.0] * 8, "retracement"),  # both happen: the first one decides
    ],
)
def test_rule_on_hand_built_windows(after: list[float], expected: str) -> None:
    label, start, end = label_window(window_with_aftermath(after), RULE)
    assert (start, end) == (14, 18)
    assert LABEL_NAMES[label] == expected


def test_label_series_cuts_windows_every_stride_with_start_bar() -> None:
    rng = np.random.default_rng(0)
    series = bars_from_closes(list(100 + np.cumsum(rng.normal(size=87))))
    windows = label_series(series, RULE)
    assert windows.start_bar.tolist() == list(range(0, 87 - 30 + 1, 5))
    for i, s in enumerate(windows.start_bar):
        np.testing.assert_array_equal(windows.ohlc[i], series[s : s + 30])
    assert ((windows.expansion_end - windows.expansion_start + 1) >= 3).all()
    assert (windows.expansion_end <= 30 - 1 - 10).all()


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_read_series_any_case_with_a_date_column(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "s.csv",
        "Date,Close,HIGH,low,Open,Volume",
        ["2020-01-01,1.5,2,1,1.2,10", "2020-01-02,1.7,1.8,1.4,1.5,11"],
    )
    np.testing.assert_array_equal(read_series(path), [[1.2, 2, 1, 1.5], [1.5, 1.8, 1.4, 1.7]])


@pytest.mark.parametrize(
    ("bad_row", "expected"),
    [
        ("1.0,nan,0.9,1.0", "row 40: has a NaN"),
        ("1.0,0.8,0.9,1.0", "row 40: high < low"),
        ("1.0,1.1,0.9,1.2", "row 40: high < max(open, close)"),
    ],
)
def test_bad_bars_name_the_row(tmp_path: Path, bad_row: str, expected: str) -> None:
    rows = ["1.0,1.1,0.9,1.0"] * 40 + [bad_row] + ["1.0,1.1,0.9,1.0"] * 10
    path = write_csv(tmp_path / "s.csv", "open,high,low,close", rows)
    with pytest.raises(DataValidationError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        from moola.data.sources import label_file

        label_file(path, RULE)


def test_unreadable_and_short_series_are_clear_errors(tmp_path: Path) -> None:
    text = write_csv(tmp_path / "t.csv", "open,high,low,close", ["1,1,1,1", "1,x,1,1"])
    with pytest.raises(DataValidationError, match=r"row 1 \(line 3\).*must be numbers"):
        read_series(text)
    missing = write_csv(tmp_path / "m.csv", "open,high,close", ["1,1,1"])
    with pytest.raises(DataValidationError, match=r"missing column\(s\) \['low'\]"):
        read_series(missing)
    short = bars_from_closes([100.0] * 29)
    with pytest.raises(DataValidationError, match="29 bars, fewer than one 30-bar window"):
        label_series(short, RULE)
    with pytest.raises(ConfigError):
        LabelRule(window=10, min_length=3, aftermath=8)


def test_moola_label_writes_the_original_schema_plus_start_bar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pyarrow")
    rng = np.random.default_rng(1)
    series = bars_from_closes(list(100 + np.cumsum(rng.normal(size=400))))
    rows = [",".join(f"{v:.6f}" for v in bar) for bar in series]
    csv_path = write_csv(tmp_path / "bars.csv", "open,high,low,close", rows)
    out = tmp_path / "w.parquet"
    assert main(["label", str(csv_path), "--out", str(out), "--stride", "20"]) == 0
    assert "wrote 15 windows" in capsys.readouterr().out  # (400 - 105) // 20 + 1
    windows = load_windows(out)
    assert windows.start_bar is not None and windows.start_bar.tolist() == list(range(0, 296, 20))
    np.testing.assert_allclose(windows.ohlc[3], series[60:165], rtol=1e-6)

    bad = write_csv(tmp_path / "bad.csv", "open,high,low,close", rows[:50])
    assert main(["label", str(bad), "--out", str(tmp_path / "x.parquet")]) == 2
    assert "fewer than one 105-bar window" in capsys.readouterr().err


# ---------------------------------------------------------------- the split


def test_chronological_split_is_purged_and_takes_the_end_of_the_series() -> None:
    window, stride = 105, 15
    starts = np.arange(0, 5000 - window + 1, stride)
    shuffled = np.random.default_rng(0).permutation(starts)  # row order must not matter
    train, val = chronological_split(shuffled, window=window, val_fraction=0.2)
    cut = 4995 - round(4995 * 0.2)  # the series spans bars 0..4994 (last start 4890)
    assert (shuffled[val] >= cut).all() and (shuffled[train] + window <= cut).all()
    train_bars = set().union(*(range(s, s + window) for s in shuffled[train]))
    val_bars = set().union(*(range(s, s + window) for s in shuffled[val]))
    assert not train_bars & val_bars
    # Every window is in exactly one part, except those straddling the cut (purged).
    straddling = ((shuffled < cut) & (shuffled + window > cut)).sum()
    assert len(train) + len(val) + straddling == len(starts) and straddling == 7


def test_windows_without_start_bar_keep_the_seeded_random_split() -> None:
    ohlc = np.tile(np.array([1.0, 1.1, 0.9, 1.0]), (20, 8, 1))
    zeros = np.zeros(20, dtype=np.int64)
    plain = OHLCWindows(ohlc, zeros, zeros, zeros)
    for a, b in zip(split_windows(plain, seed=3), train_val_split(20, seed=3)):
        np.testing.assert_array_equal(a, b)
    timed = OHLCWindows(ohlc, zeros, zeros, zeros, start_bar=np.arange(20) * 8)
    train, val = split_windows(timed, seed=3)
    assert val.tolist() == [16, 17, 18, 19] and train.tolist() == list(range(16))
    assert timed.subset(np.array([2, 5])).start_bar.tolist() == [16, 40]


def test_a_split_with_an_empty_part_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="leaves 0 training"):
        chronological_split(np.array([0, 10]), window=105, val_fraction=0.5)


def test_csv_windows_carry_an_optional_start_bar(tmp_path: Path) -> None:
    from moola.data import load_csv

    bars = ["window_id,bar,open,high,low,close"]
    bars += [f"{w},{b},1.0,1.1,0.9,1.0" for w in ("a", "b") for b in range(4)]
    write_csv(tmp_path / "bars.csv", bars[0], bars[1:])
    header = "window_id,label,expansion_start,expansion_end,start_bar"
    write_csv(tmp_path / "labels.csv", header, ["a,retracement,0,1,0", "b,continuation,1,2,2"])
    windows = load_csv(tmp_path / "bars.csv", tmp_path / "labels.csv")
    assert windows.start_bar is not None and windows.start_bar.tolist() == [0, 2]
    header = "window_id,label,expansion_start,expansion_end"
    write_csv(tmp_path / "labels.csv", header, ["a,retracement,0,1", "b,continuation,1,2"])
    assert load_csv(tmp_path / "bars.csv", tmp_path / "labels.csv").start_bar is None


def test_read_series_from_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"Close": [1.5, 1.7], "High": [2.0, 1.8], "Low": [1, 1.4], "OPEN": [1.2, 1.5]})
    pq.write_table(table, tmp_path / "s.parquet")
    np.testing.assert_array_equal(
        read_series(tmp_path / "s.parquet"), [[1.2, 2, 1, 1.5], [1.5, 1.8, 1.4, 1.7]]
    )


# ---------------------------------------------------------------- Fixes of issue 19 around ``moola label`` and bar-series files: a newest-first series is


def bars(n: int = 240) -> np.ndarray:
    return generate_synthetic(SyntheticConfig(n_windows=4, seed=2)).ohlc.reshape(-1, 4)[:n]


def write_dated_csv(path: Path, series: np.ndarray, dates: list[str], *, sep: str = ",") -> Path:
    header = sep.join(["Date", "Open", "High", "Low", "Close"])
    lines = [header] + [sep.join([d, *(f"{v:.6f}" for v in row)]) for d, row in zip(dates, series)]
    path.write_text("\n".join(lines) + "\n")
    return path


def days(n: int) -> list[str]:
    start = np.datetime64("2020-01-01")
    return [str(start + np.timedelta64(i, "D")) for i in range(n)]


def test_a_newest_first_series_is_refused(tmp_path: Path) -> None:
    series = bars()
    path = write_dated_csv(tmp_path / "s.csv", series[::-1], days(len(series))[::-1])
    with pytest.raises(DataValidationError, match="newest first") as caught:
        read_series(path)
    assert "2020-08-27" in str(caught.value) and "2020-01-01" in str(caught.value)
    oldest_first = read_series(write_dated_csv(tmp_path / "ok.csv", series, days(len(series))))
    np.testing.assert_allclose(oldest_first, series, atol=1e-6)  # written with 6 decimals


def test_a_pandas_index_of_timestamps_counts_and_other_columns_do_not(tmp_path: Path) -> None:
    series = bars(110)
    stamps = [f"{d} 10:00:00" for d in days(110)][::-1]
    path = tmp_path / "p.csv"
    path.write_text(
        ",Open,High,Low,Close\n"
        + "".join(f"{t},{','.join(f'{v:.6f}' for v in row)}\n" for t, row in zip(stamps, series))
    )
    with pytest.raises(DataValidationError, match="newest first"):
        read_series(path)
    labels = [f"bar {i}" for i in range(110)][::-1]  # a "time" column that is not a time
    path = write_dated_csv(tmp_path / "q.csv", series, labels)
    path.write_text(path.read_text().replace("Date", "Time label", 1))
    assert read_series(path).shape == (110, 4)


def test_label_refuses_a_newest_first_series_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = bars()
    path = write_dated_csv(tmp_path / "s.csv", series[::-1], days(len(series))[::-1])
    assert main(["label", str(path), "--out", str(tmp_path / "w.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "newest first" in err and "tac" in err


def test_label_out_must_be_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_dated_csv(tmp_path / "s.csv", bars(), days(240))
    assert main(["label", str(path), "--out", str(tmp_path / "w.csv")]) == 2
    assert "must end in .parquet" in capsys.readouterr().err
    assert not (tmp_path / "w.csv").exists()


def test_a_semicolon_csv_gets_a_hint(tmp_path: Path) -> None:
    path = write_dated_csv(tmp_path / "s.csv", bars(), days(240), sep=";")
    with pytest.raises(DataValidationError, match="semicolon-separated"):
        read_series(path)


def test_training_on_a_series_points_to_moola_label(tmp_path: Path) -> None:
    path = write_dated_csv(tmp_path / "series.csv", bars(), days(240))
    with pytest.raises(DataValidationError, match=r"moola label .*series\.csv --out"):
        load_windows(path)
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table(
        {name: bars()[:, i] for i, name in enumerate(["open", "high", "low", "close"])}
    )
    pq.write_table(table, tmp_path / "series.parquet")
    with pytest.raises(DataValidationError, match="looks like a bar series: label it first"):
        load_windows(tmp_path / "series.parquet")


@pytest.mark.parametrize("tick", [None, 0.5])
def test_label_windows_equals_the_rule_one_window_at_a_time(tick: float | None) -> None:
    """The vectorised rule (what labels dense windows on the fly) gives the one-window
    reference's labels and spans on every window; prices rounded to a coarse tick make many
    ties among runs and starts, where "earliest" and "shorter first" decide; flat windows
    take the tiny-unit branch."""
    from moola.data.labeling import label_windows
    from tests.helpers.labeling import reference_label_window

    rng = np.random.default_rng(3)
    closes = 100 + np.cumsum(rng.standard_t(3, size=4000))
    if tick is not None:
        closes = np.round(closes / tick) * tick
    series = bars_from_closes(list(closes))
    series[200:260] = series[200, 3]  # a flat stretch: zero-range bars
    rule = LabelRule(window=40, stride=1, min_length=3, max_length=12, aftermath=10)
    starts = np.arange(0, len(series) - rule.window + 1, 3)
    windows = np.stack([series[s : s + rule.window] for s in starts])
    got = label_windows(windows, rule)
    expected = np.array([reference_label_window(w, rule) for w in windows])
    np.testing.assert_array_equal(got, expected)
    assert set(got[:, 0].tolist()) == {0, 1, 2}
    assert label_window(windows[7], rule) == tuple(expected[7])


@pytest.mark.parametrize("stride", [1, 7])
def test_label_starts_labels_along_the_series_as_label_windows_does(stride: int) -> None:
    """The series labeller (what labels a stride-1 corpus on the fly: each run's move once
    per bar, never the windows' bars cut out) gives the window labeller's labels on every
    window, bit for bit: at a stride, at scattered starts, and in small chunks; prices on a
    coarse tick make ties, and a flat stretch takes the tiny-unit branch."""
    from moola.data.labeling import label_starts, label_windows, series_starts

    rng = np.random.default_rng(5)
    closes = np.round((100 + np.cumsum(rng.standard_t(3, size=3000))) / 0.5) * 0.5
    series = bars_from_closes(list(closes))
    series[400:470] = series[400, 3]
    rule = LabelRule(window=40, stride=stride, min_length=3, max_length=12, aftermath=10)
    view = np.lib.stride_tricks.sliding_window_view(series, (rule.window, 4))[:, 0]
    starts = series_starts(len(series), rule)
    expected = label_windows(view[starts], rule)
    np.testing.assert_array_equal(label_starts(series, starts, rule), expected)
    np.testing.assert_array_equal(label_starts(series, starts, rule, chunk=37), expected)
    scattered = np.sort(rng.choice(len(view), 200, replace=False))
    np.testing.assert_array_equal(
        label_starts(series, scattered, rule), label_windows(view[scattered], rule)
    )


def test_moola_label_writes_what_label_series_gives_batch_by_batch(tmp_path: Path) -> None:
    """``moola label`` labels and writes a few thousand windows at a time; the file holds
    exactly label_series' windows (bars, labels, start_bar), in row groups."""
    pq = pytest.importorskip("pyarrow.parquet")
    from moola.cli import main
    from moola.data import load_parquet
    from moola.data.signal_free import random_walk_series

    bars = random_walk_series(9000, seed=3)
    path = tmp_path / "bars.csv"
    np.savetxt(path, bars, delimiter=",", header="open,high,low,close", comments="")
    out = tmp_path / "windows.parquet"
    assert main(["label", str(path), "--out", str(out), "--stride", "1"]) == 0
    series = np.loadtxt(path, delimiter=",", skiprows=1)
    got, want = load_parquet(out), label_series(series, LabelRule(stride=1))
    assert len(got) == len(want) == 8896
    np.testing.assert_array_equal(got.ohlc, want.ohlc)
    for name in ("label", "expansion_start", "expansion_end", "start_bar"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    assert pq.ParquetFile(out).num_row_groups == 3  # 4096 + 4096 + 704 windows
