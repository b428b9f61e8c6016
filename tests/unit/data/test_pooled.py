"""Pooled series: a series id beside start_bar keeps every series on its own side of a split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from moola.data import OHLCWindows, chronological_split, load_parquet, load_windows, save_parquet
from moola.data.labeling import label_series
from moola.data.pooled import pool_windows
from moola.data.signal_free import random_walk_series
from moola.data.splits import choose_split
from moola.data.windows import WindowValidationError
from moola.train.folds import fold_indices, timeline

K = 105


def labelled(seed: int, n_bars: int) -> OHLCWindows:
    return label_series(random_walk_series(n_bars, seed=seed))


def test_pooled_series_are_split_each_on_its_own() -> None:
    a, b = labelled(0, 2000), labelled(1, 3000)
    pooled = pool_windows([a, b])
    assert pooled.series is not None and pooled.start_bar is not None
    np.testing.assert_array_equal(pooled.series, np.r_[np.zeros(len(a)), np.ones(len(b))])
    split = choose_split(pooled)
    ta, va = chronological_split(a.start_bar, window=K)
    tb, vb = chronological_split(b.start_bar, window=K)
    np.testing.assert_array_equal(split.train, np.r_[ta, tb + len(a)])
    np.testing.assert_array_equal(split.val, np.r_[va, vb + len(a)])
    assert split.info.kind == "chronological" and split.info.n_series == 2
    # Without series ids both series would sit on one timeline and only b's end would validate.
    one_timeline = chronological_split(pooled.start_bar, window=K)[1]
    assert (one_timeline >= len(a)).all() and (split.val < len(a)).any()
    # folds cut each series on its own too
    starts, series = timeline(pooled)
    for train, test in fold_indices(starts, series, window=K, folds=2):
        for s in (0, 1):
            rows_train = train[series[train] == s]
            rows_test = test[series[test] == s]
            assert starts[rows_train].max() + K <= starts[rows_test].min()


def test_pooling_renumbers_pooled_parts_and_drops_start_bar_if_a_part_has_none() -> None:
    a, b = labelled(0, 1200), labelled(1, 1200)
    twice = pool_windows([pool_windows([a, b]), a])
    assert twice.series is not None
    assert sorted(set(twice.series.tolist())) == [0, 1, 2]
    plain = OHLCWindows(b.ohlc, b.label, b.expansion_start, b.expansion_end)
    mixed = pool_windows([a, plain])
    assert mixed.start_bar is None and mixed.series is None
    assert choose_split(mixed).info.n_series == 2  # recovered from the shared bars


def test_series_ids_round_trip_through_parquet_and_pool_from_the_command_line(
    tmp_path: Path,
) -> None:
    from moola.cli import main

    a, b = labelled(0, 1200), labelled(1, 1500)
    pa, pb = tmp_path / "a.parquet", tmp_path / "b.parquet"
    save_parquet(a, pa)
    save_parquet(b, pb)
    pooled = load_windows(f"{pa}|{pb}")
    out = tmp_path / "pooled.parquet"
    save_parquet(pooled, out)
    back = load_parquet(out)
    np.testing.assert_array_equal(back.series, pooled.series)
    np.testing.assert_array_equal(back.start_bar, pooled.start_bar)

    for name, bars in (
        ("a.csv", random_walk_series(1200, seed=0)),
        ("b.csv", random_walk_series(1500, seed=1)),
    ):
        rows = "\n".join(",".join(f"{v:.10f}" for v in bar) for bar in bars)
        (tmp_path / name).write_text("open,high,low,close\n" + rows + "\n")
    cli_out = tmp_path / "cli.parquet"
    assert (
        main(["label", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--out", str(cli_out)])
        == 0
    )
    labelled_back = load_parquet(cli_out)
    assert labelled_back.series is not None
    assert sorted(set(labelled_back.series.tolist())) == [0, 1]


def test_series_without_start_bar_is_a_clear_error() -> None:
    a = labelled(0, 1200)
    with pytest.raises(WindowValidationError, match="series ids need start_bar"):
        OHLCWindows(a.ohlc, a.label, a.expansion_start, a.expansion_end, series=np.zeros(len(a)))


def test_train_pools_repeated_data_and_reports_the_series(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from moola.cli import main

    paths = []
    for seed, n_bars in ((0, 1200), (1, 1500)):
        path = tmp_path / f"s{seed}.parquet"
        save_parquet(labelled(seed, n_bars), path)
        paths.append(str(path))
    out = tmp_path / "run"
    argv = ["train", "--data", paths[0], "--data", paths[1], "--steps", "2", "--eval-every", "0"]
    assert (
        main([*argv, "--batch-size", "8", "--threads", "1", "--no-progress", "--out", str(out)])
        == 0
    )
    split = json.loads((out / "metrics.json").read_text())["split"]
    assert split["kind"] == "chronological" and split["n_series"] == 2
    printed = capsys.readouterr().err
    assert (
        f"split: chronological, {split['n_train']} train / {split['n_val']} validation" in printed
    )
