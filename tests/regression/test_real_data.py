"""Real market bars: every head must learn on hourly EURUSD with the default configuration.

The bars come from the installed ``backtesting`` package (AGPL-3.0): they are read where
pip put them, at test time, and no excerpt is committed. ``EURUSD.csv`` (5000 hourly bars)
is the tuned case; ``GOOG.csv`` (2148 daily bars) is held out and only checked for sane
labels here, never trained on in the suite.

Measured on 2026-11-27 (seed 0, 1 thread, 1000 steps, 7 candle features; final weights,
val loss / constant, metric vs constant):

* EURUSD (327 windows: 146 consolidation, 104 retracement, 77 continuation; 260 train, 60
  validation after the purged chronological split): type 0.99x, acc 0.383 (0.383);
  pointers 0.97x, MAE 11.74 bars (11.75); binary 0.90x, span F1 0.000 (0.384); countdown
  0.60x, MAE 7.14 bars (11.60). Only the countdown learns, so the test is an expected
  failure until the move features of issue 9 arrive. Best step: 1000 (the end).
* GOOG, held out, reported only (137 windows: 53 / 31 / 53; 108 train, 22 validation):
  type 0.96x but above its initial loss, acc 0.273 (0.227); pointers 0.85x, MAE 9.06 bars
  (10.26), learned; binary 0.87x, span F1 0.123 (0.386); countdown 0.56x, MAE 6.14 bars
  (10.54), learned. Best step: 1000.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from moola.data import save_parquet
from moola.data.labeling import backtesting_series_path, label_file
from moola.train import TrainConfig, Trainer

pytestmark = pytest.mark.slow


def real_series(name: str) -> Path:
    path = backtesting_series_path(name)
    if path is None:
        pytest.skip("the real bars come with the backtesting package: pip install backtesting")
    return path


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="type, pointers and binary do not learn on real bars from the 7 candle features; "
    "needs the move features of issue 9 (remove this mark after merging it)",
)
def test_every_head_learns_on_eurusd_with_the_defaults(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    data = tmp_path / "eurusd.parquet"
    save_parquet(label_file(real_series("EURUSD")), data)
    config = TrainConfig(data=str(data), seed=0, threads=1, out_dir=None, progress=False)
    summary = Trainer(config).fit().task_summary()
    assert {name: t["learned"] for name, t in summary.items()} == dict.fromkeys(summary, True), {
        name: t["why"] for name, t in summary.items()
    }


@pytest.mark.parametrize("name", ["EURUSD", "GOOG"])
def test_real_series_label_into_three_sizeable_classes(name: str) -> None:
    """The rule was set once; on both files every class holds at least 15% of the windows."""
    windows = label_file(real_series(name))
    counts = np.bincount(windows.label, minlength=3)
    assert counts.min() >= 0.15 * len(windows), counts
    assert len(windows) >= 130  # GOOG: (2148 - 105) // 15 + 1 = 137; EURUSD: 327
