"""``moola train``'s printout: the split sizes (also in metrics.json), and a notice when a
new run replaces a finished one in the same folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import moola
from moola.cli import main
from moola.data import SyntheticConfig, generate_synthetic
from moola.data.labeling import LabelRule, label_series
from tests.helpers.configs import tiny_config


def test_the_split_sizes_are_in_the_result_and_metrics() -> None:
    result = moola.train(tiny_config(steps=2))
    # 64 independent windows, val_fraction 0.2: round(12.8) = 13 validation windows
    assert result.split is not None
    assert (result.split["n_train"], result.split["n_val"], result.split["n_purged"]) == (51, 13, 0)
    assert result.split["kind"] == "random"
    assert result.to_metrics()["split"] == result.split


def test_a_chronological_split_reports_the_purged_windows() -> None:
    series = generate_synthetic(SyntheticConfig(n_windows=20, window=24, seed=1)).ohlc
    windows = label_series(series.reshape(-1, 4), LabelRule(window=24, stride=4))
    result = moola.train(tiny_config(steps=2), windows=windows)
    split = result.split
    assert split is not None and split["kind"] == "chronological"
    assert split["n_purged"] > 0  # overlapping windows that straddle the cut
    assert split["n_train"] + split["n_val"] + split["n_purged"] == len(windows)
    starts = windows.start_bar
    assert starts is not None and np.all(np.diff(starts) == 4)


def test_train_prints_the_split_and_says_when_it_replaces_a_finished_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "--steps", "1", "--threads", "1", "--no-progress", "--out", str(tmp_path)]
    assert main(args) == 0
    err = capsys.readouterr().err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    split = metrics["split"]
    assert split["n_train"] + split["n_val"] == 1024
    assert f"split: random, {split['n_train']} train / {split['n_val']} validation windows" in err
    assert "replacing" not in err
    assert main(args) == 0
    assert f"replacing the finished run in {tmp_path}" in capsys.readouterr().err
    assert (
        main([*args[:-2], "--out", str(tmp_path), "--resume", str(tmp_path), "--steps", "2"]) == 0
    )
    assert "replacing" not in capsys.readouterr().err  # continuing the run, not replacing it
