"""``synthetic:BARS[:seed]``: the realistic market as a bar series wherever one is accepted
(``moola label``, ``moola train --data``, ``moola predict --data``, ``read_bars``), with
one-line errors for a malformed source; plain ``synthetic`` keeps its meaning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from moola.cli import main
from moola.data import (
    LabelRule,
    SyntheticConfig,
    generate_market,
    generate_synthetic,
    label_series,
    load_windows,
    read_bars,
)
from moola.errors import DataValidationError
from moola.inference.sources import from_source


def test_read_bars_is_the_market_of_that_size_and_seed() -> None:
    assert read_bars("synthetic:1000:3").tobytes() == generate_market(1000, 3).tobytes()
    assert read_bars("synthetic:1000").tobytes() == generate_market(1000, 0).tobytes()
    assert read_bars(" Synthetic:1000:3 ").tobytes() == generate_market(1000, 3).tobytes()


def test_read_bars_reads_and_checks_a_bar_file(tmp_path: Path) -> None:
    bars = generate_market(200, 1)
    rows = "\n".join(",".join(repr(float(v)) for v in bar) for bar in bars)
    path = tmp_path / "bars.csv"
    path.write_text(f"open,high,low,close\n{rows}\n")
    assert np.array_equal(read_bars(path), bars)
    with pytest.raises(DataValidationError, match=r"bars\.csv.*200 bars, fewer than one 300-bar"):
        read_bars(path, window=300)
    bad = tmp_path / "bad.csv"
    bad.write_text("open,high,low,close\n1,2,0.5,1.5\n1,0.9,0.5,1\n")
    with pytest.raises(DataValidationError, match=r"bad\.csv: row 1.*high"):
        read_bars(bad, window=2)


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("synthetic:abc", "BARS must be a whole number"),
        ("synthetic:0", "BARS must be a whole number of bars >= 1, got '0'"),
        ("synthetic:-5", "BARS must be a whole number"),
        ("synthetic:", "BARS must be a whole number"),
        ("synthetic:10:x", "the seed must be a whole number >= 0, got 'x'"),
        ("synthetic:10:-1", "the seed must be a whole number"),
        ("synthetic:1000:1:2", "too many parts"),
        ("synthetic:104", "has 104 bars, fewer than one 105-bar window"),
        (f"synthetic:1000:{2**63}", "below 2**63"),
    ],
)
def test_a_malformed_market_source_is_a_named_one_line_error(source: str, needle: str) -> None:
    for load in (read_bars, load_windows):
        with pytest.raises(DataValidationError) as info:
            load(source)
        message = str(info.value)
        assert needle in message and repr(source.strip()) in message and "\n" not in message


def test_more_bars_than_memory_is_a_named_error() -> None:
    with pytest.raises(DataValidationError, match="GiB of memory"):
        read_bars(f"synthetic:{10**15}")


def test_train_data_is_the_market_labelled_by_moola_labels_rule() -> None:
    windows = load_windows("synthetic:3000:2")
    expected = label_series(generate_market(3000, 2), LabelRule())
    assert len(windows) == (3000 - 105) // 15 + 1
    assert windows.start_bar is not None and windows.start_bar[:3].tolist() == [0, 15, 30]
    for got, want in zip(
        (windows.ohlc, windows.label, windows.expansion_start, windows.expansion_end),
        (expected.ohlc, expected.label, expected.expansion_start, expected.expansion_end),
        strict=True,
    ):
        assert np.array_equal(got, want)
    assert load_windows("synthetic:500", window=24).window == 24


def test_plain_synthetic_keeps_its_meaning() -> None:
    got = load_windows("synthetic")
    want = generate_synthetic(SyntheticConfig())
    assert np.array_equal(got.ohlc, want.ohlc) and got.start_bar is None


def test_market_sources_pool_as_separate_series() -> None:
    pooled = load_windows("synthetic:1000|synthetic:1000:1")
    assert pooled.series is not None and sorted(set(pooled.series.tolist())) == [0, 1]


def test_moola_label_takes_the_market(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pyarrow")
    out = tmp_path / "w.parquet"
    assert main(["label", "synthetic:2000:1", "--out", str(out), "--stride", "10"]) == 0
    assert f"wrote {(2000 - 105) // 10 + 1} windows" in capsys.readouterr().out
    written = load_windows(out)
    assert np.array_equal(written.ohlc[5], generate_market(2000, 1)[50:155])

    assert main(["label", "synthetic:10:x", "--out", str(tmp_path / "x.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("moola label: error: 'synthetic:10:x'") and err.count("\n") == 1
    assert not (tmp_path / "x.parquet").exists()


def test_moola_train_takes_the_market(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["train", "--data", "synthetic:800:1", "--window", "24", "--steps", "2"]
    small = ["--batch-size", "8", "--set", 'model={"hidden_size": 8, "projection_dim": 8}']
    quiet = ["--eval-every", "0", "--threads", "1", "--no-progress", "--out", str(out)]
    assert main([*args, *small, *quiet]) == 0
    assert "data synthetic:800:1" in capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["data"] == "synthetic:800:1"
    assert metrics["split"]["kind"] == "chronological"  # start_bar came with the windows

    assert main(["train", "--data", "synthetic:0", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "moola train: error: 'synthetic:0'" in err and err.count("\n") == 1


def test_predict_reads_the_market_as_labelled_windows() -> None:
    got = from_source("synthetic:800:1", window=24)
    assert got.labelled is not None and len(got) == (800 - 24) // 15 + 1
