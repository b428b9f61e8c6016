"""``moola predict``: one parquet row per window, the training verdict on labelled data, and
one line with exit status 2 for every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import moola
from moola.cli import main
from moola.data import SyntheticConfig, generate_synthetic, save_parquet

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
WINDOW = 24


def write_series(path: Path, bars: int = 200) -> np.ndarray:
    series = generate_synthetic(SyntheticConfig(n_windows=10, window=WINDOW, seed=5)).ohlc
    series = series.reshape(-1, 4)[:bars]
    lines = ["date,Open,High,Low,Close"] + [
        f"2020-01-{i:04d}," + ",".join(f"{v:.6f}" for v in row) for i, row in enumerate(series)
    ]
    path.write_text("\n".join(lines) + "\n")
    return series


def test_predict_a_raw_series(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_series(tmp_path / "bars.csv", bars=200)
    out = tmp_path / "pred.parquet"
    assert (
        main(
            [
                "predict",
                str(run_dir),
                "--data",
                str(tmp_path / "bars.csv"),
                "--out",
                str(out),
                "--stride",
                "10",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "last window (series bars 176..199)" in err and "description of the past" in err
    table = pq.read_table(out).to_pydict()
    # 200 bars, 24-bar windows every 10 bars, the newest ending on bar 199: starts 6, 16, ..., 176
    assert table["start_bar"] == list(range(6, 177, 10))
    assert table["end_bar"] == [s + WINDOW - 1 for s in table["start_bar"]]
    assert all(len(row) == WINDOW for row in table["countdown"])
    assert set(table["label"]) <= set(moola.LABEL_NAMES)
    probs = np.array([table[f"p_{name}"] for name in moola.LABEL_NAMES])
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-9)
    assert "true_label" not in table  # no labels in a raw series


def test_predict_labelled_windows_prints_the_verdict_per_head(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    windows = generate_synthetic(SyntheticConfig(n_windows=40, window=WINDOW, seed=9))
    save_parquet(windows, tmp_path / "w.parquet")
    out = tmp_path / "pred.parquet"
    args = ["predict", str(run_dir), "--data", str(tmp_path / "w.parquet"), "--out", str(out)]
    assert main([*args, "--weights", "final"]) == 0
    captured = capsys.readouterr()
    for head in ("type", "pointers", "binary", "countdown"):
        assert head in captured.out
    assert "verdict" in captured.out and "prior" in captured.out
    assert "final weights" in captured.err
    table = pq.read_table(out).to_pydict()
    assert table["true_start"] == windows.expansion_start.tolist()
    assert table["start_bar"] == [None] * 40


def one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("moola predict: error:") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


def test_a_missing_run_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_series(tmp_path / "bars.csv")
    args = ["--data", str(tmp_path / "bars.csv"), "--out", str(tmp_path / "p.parquet")]
    assert main(["predict", str(tmp_path / "nope"), *args]) == 2
    one_line_error(capsys, "no run or checkpoint", "nope")


def test_other_features_are_one_line(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = torch.load(run_dir / "best.pt", weights_only=True)
    document["feature_names"] = [*document["feature_names"][:-1], "volume_z"]
    torch.save(document, tmp_path / "best.pt")
    write_series(tmp_path / "bars.csv")
    args = ["--data", str(tmp_path / "bars.csv"), "--out", str(tmp_path / "p.parquet")]
    assert main(["predict", str(tmp_path / "best.pt"), *args]) == 2
    one_line_error(capsys, "was trained on features", "volume_z")


def test_wrong_window_length_is_one_line(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    windows = generate_synthetic(SyntheticConfig(n_windows=8, window=30, seed=1))
    save_parquet(windows, tmp_path / "w30.parquet")
    args = ["--data", str(tmp_path / "w30.parquet"), "--out", str(tmp_path / "p.parquet")]
    assert main(["predict", str(run_dir), *args]) == 2
    one_line_error(capsys, "expected 24 bars", "trained on 24-bar windows")


@pytest.mark.parametrize("bars", [0, 10])
def test_an_empty_or_short_series_is_one_line(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], bars: int
) -> None:
    write_series(tmp_path / "bars.csv", bars=bars)
    args = ["--data", str(tmp_path / "bars.csv"), "--out", str(tmp_path / "p.parquet")]
    assert main(["predict", str(run_dir), *args]) == 2
    one_line_error(capsys, "no bars" if bars == 0 else "fewer than one 24-bar window")
    assert not (tmp_path / "p.parquet").exists()


@pytest.mark.parametrize(
    ("out", "needle"),
    [("file.txt/p.parquet", "is not a folder"), ("p.csv", "must end in .parquet"), (".", "")],
)
def test_an_unwritable_out_is_one_line_before_any_work(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str, needle: str
) -> None:
    (tmp_path / "file.txt").write_text("x")
    write_series(tmp_path / "bars.csv")
    target = str(tmp_path / out) if out != "." else str(tmp_path / "dir.parquet")
    if out == ".":
        (tmp_path / "dir.parquet").mkdir()
        needle = "is a folder"
    assert (
        main(["predict", str(run_dir), "--data", str(tmp_path / "bars.csv"), "--out", target]) == 2
    )
    one_line_error(capsys, needle)
