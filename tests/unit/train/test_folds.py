"""Walk-forward folds: expanding, purged, judged only on test blocks the weights never saw."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from moola.data.signal_free import SignalFreeConfig, generate_signal_free
from moola.data.splits import fold_indices, timeline
from moola.errors import ConfigError
from moola.train import TrainConfig
from moola.train.folds import run_folds

K = 105
TINY = dict(
    steps=10,
    eval_every=5,
    batch_size=8,
    model={"hidden_size": 8, "projection_dim": 8},
    threads=1,
    out_dir=None,
    progress=False,
)


def bars_of(starts: np.ndarray) -> set[int]:
    return set().union(*(range(int(s), int(s) + K) for s in starts))


def test_folds_expand_and_no_test_window_shares_a_bar_with_its_training() -> None:
    starts = np.random.default_rng(0).permutation(np.arange(0, 3000 - K + 1, 15))
    series = np.zeros(len(starts), dtype=np.int64)
    folds = fold_indices(starts, series, window=K, folds=3, embargo=15)
    previous_train: set[int] = set()
    last_test_start = -1
    for train, test in folds:
        assert not bars_of(starts[train]) & bars_of(starts[test])
        assert (starts[train].max() + K + 15) <= starts[test].min()  # the embargo holds
        assert previous_train <= set(train.tolist())  # expanding
        assert starts[test].min() > last_test_start  # test blocks move forward in time
        previous_train, last_test_start = set(train.tolist()), int(starts[test].max())
    tests = np.concatenate([t for _, t in folds])
    assert len(np.unique(tests)) == len(tests)  # every window is judged at most once
    with pytest.raises(ConfigError, match="use fewer folds"):
        fold_indices(starts[:10], series[:10], window=K, folds=5)


def test_pre_cut_windows_get_their_recovered_timeline() -> None:
    windows = generate_signal_free(SignalFreeConfig(n_bars=1200, seed=1))
    starts, series = timeline(windows)
    np.testing.assert_array_equal(starts, np.arange(len(windows)) * 15)
    assert (series == 0).all()


def test_run_folds_reports_every_fold_and_the_pooled_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from moola.cli import main
    from moola.data import save_parquet

    windows = generate_signal_free(SignalFreeConfig(n_bars=2400, seed=0))
    doc = run_folds(TrainConfig(**TINY), 2, windows=windows).doc
    assert [f["fold"] for f in doc["per_fold"]] == [1, 2]
    assert doc["pooled"]["n_test"] == sum(f["n_test"] for f in doc["per_fold"])
    for fold in doc["per_fold"]:
        assert fold["best_step"] in (5, 10)  # picked by the fold's inner split
        for name, task in fold["tasks"].items():
            assert "95% CI [" in task["why"] and not task["learned"], (name, task["why"])
    assert set(doc["pooled"]["tasks"]) == {"type", "pointers", "binary", "countdown"}

    path = tmp_path / "free.parquet"
    save_parquet(windows, path)
    out = tmp_path / "run"
    argv = ["train", "--data", str(path), "--folds", "2", "--steps", "10", "--eval-every", "5"]
    assert main([*argv, "--batch-size", "8", "--threads", "1", "--out", str(out)]) == 0
    written = json.loads((out / "folds.json").read_text())
    assert written["folds"] == 2 and len(written["per_fold"]) == 2
    metrics = json.loads((out / "metrics.json").read_text())  # written last, as for one split
    assert metrics["tasks"] == written["pooled"]["tasks"] and metrics["config"]["folds"] == 2
    # issue 29: the tables call the held-out part "test"; small parts are said out loud
    captured = capsys.readouterr()
    assert "test loss: initial → final" in captured.out and "test metric" in captured.out
    assert "val loss" not in captured.out and "validation metric" not in captured.out
    n_test = written["pooled"]["n_test"]
    assert metrics["summary"].startswith("0 of 4 heads learned (pooled over 2 folds")
    assert f" training / {n_test} test windows; median 95% interval ±" in metrics["summary"]
    # a test block of about 50 windows is too small to decide: said, naming its fold
    said = [w["text"] for fold in written["per_fold"] for w in fold["warnings"]]
    assert said and all(re.match(r"fold [12]: ", text) for text in said)
    first = written["per_fold"][0]
    block = f"fold 1: the test block has {first['n_test']} windows, too few"
    assert any(text.startswith(block) for text in said), said
    assert f"moola train: warning: {block}" in captured.err
    assert metrics["warnings"] == written["warnings"]


def test_a_sweep_has_a_fold_axis_and_its_league_ranks_fold_runs(tmp_path: Path) -> None:
    """``moola sweep --set folds=0 --set folds=2``: one-split and 2-fold runs side by side;
    a fold run's metrics.json carries the pooled verdict, so the league ranks it."""
    from moola.cli import main
    from moola.data import save_parquet

    path = tmp_path / "free.parquet"
    save_parquet(generate_signal_free(SignalFreeConfig(n_bars=2400, seed=0)), path)
    out = tmp_path / "sweep"
    argv = ["sweep", "--data", str(path), "--balancers", "static", "--seeds", "0"]
    tiny = ["--steps", "10", "--set", "eval_every=5", "--set", "batch_size=8"]
    assert (
        main(
            [
                *argv,
                *tiny,
                "--set",
                "folds=0",
                "--set",
                "folds=2",
                "--executor",
                "inline",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    runs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert [r.split("__")[1] for r in runs] == ["folds-0", "folds-2"]
    fold_run = out / runs[1]
    assert (fold_run / "folds.json").is_file() and not (fold_run / "checkpoint.pt").exists()
    league = json.loads((out / "league.json").read_text())
    assert league["runs"] == 2


def test_windows_that_share_nothing_are_one_series_in_row_order() -> None:
    from moola.data import OHLCWindows
    from moola.data.signal_free import random_walk_series

    shared = generate_signal_free(SignalFreeConfig(n_bars=600, seed=2))
    lone = random_walk_series(4 * K, seed=3).reshape(4, K, 4) * 2.0
    zeros = np.zeros(4, dtype=np.int64)
    mixed = OHLCWindows(
        np.concatenate([shared.ohlc, lone]),
        np.r_[shared.label, zeros],
        np.r_[shared.expansion_start, zeros],
        np.r_[shared.expansion_end, zeros],
    )
    starts, series = timeline(mixed)
    n = len(shared)
    np.testing.assert_array_equal(series, np.r_[np.zeros(n), np.ones(4)])
    np.testing.assert_array_equal(starts[n:], np.arange(4) * K)
    np.testing.assert_array_equal(starts[:n], np.arange(n) * 15)
