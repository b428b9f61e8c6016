"""Fixes of issue 19 around ``moola label`` and bar-series files: a newest-first series is
refused, ``--out`` must be .parquet, and a series or a semicolon CSV handed to the wrong
place gets a hint that says what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from moola.cli import main
from moola.data import SyntheticConfig, generate_synthetic, load_windows
from moola.data.files import read_series
from moola.errors import DataValidationError


def bars(n: int = 240) -> np.ndarray:
    return generate_synthetic(SyntheticConfig(n_windows=4, seed=2)).ohlc.reshape(-1, 4)[:n]


def write_csv(path: Path, series: np.ndarray, dates: list[str], *, sep: str = ",") -> Path:
    header = sep.join(["Date", "Open", "High", "Low", "Close"])
    lines = [header] + [sep.join([d, *(f"{v:.6f}" for v in row)]) for d, row in zip(dates, series)]
    path.write_text("\n".join(lines) + "\n")
    return path


def days(n: int) -> list[str]:
    start = np.datetime64("2020-01-01")
    return [str(start + np.timedelta64(i, "D")) for i in range(n)]


def test_a_newest_first_series_is_refused(tmp_path: Path) -> None:
    series = bars()
    path = write_csv(tmp_path / "s.csv", series[::-1], days(len(series))[::-1])
    with pytest.raises(DataValidationError, match="newest first") as caught:
        read_series(path)
    assert "2020-08-27" in str(caught.value) and "2020-01-01" in str(caught.value)
    oldest_first = read_series(write_csv(tmp_path / "ok.csv", series, days(len(series))))
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
    path = write_csv(tmp_path / "q.csv", series, labels)
    path.write_text(path.read_text().replace("Date", "Time label", 1))
    assert read_series(path).shape == (110, 4)


def test_label_refuses_a_newest_first_series_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = bars()
    path = write_csv(tmp_path / "s.csv", series[::-1], days(len(series))[::-1])
    assert main(["label", str(path), "--out", str(tmp_path / "w.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "newest first" in err and "tac" in err


def test_label_out_must_be_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "s.csv", bars(), days(240))
    assert main(["label", str(path), "--out", str(tmp_path / "w.csv")]) == 2
    assert "must end in .parquet" in capsys.readouterr().err
    assert not (tmp_path / "w.csv").exists()


def test_a_semicolon_csv_gets_a_hint(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", bars(), days(240), sep=";")
    with pytest.raises(DataValidationError, match="semicolon-separated"):
        read_series(path)


def test_training_on_a_series_points_to_moola_label(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "series.csv", bars(), days(240))
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
