"""Real market bars: every head must learn on hourly EURUSD with the default configuration.

The bars come from the installed ``backtesting`` package (AGPL-3.0): they are read where
pip put them, at test time, and no excerpt is committed. ``EURUSD.csv`` (5000 hourly bars)
is the tuned case; ``GOOG.csv`` (2148 daily bars) is held out and only checked for sane
labels here, never trained on in the suite.

Measured on 2026-11-27 (seed 0, 1 thread, 1000 steps, the default ``all`` features; final
weights, val loss / constant, metric vs constant):

* EURUSD (327 windows: 146 consolidation, 104 retracement, 77 continuation; 260 train, 60
  validation after the purged chronological split): type 0.80x, acc 0.667 (0.383);
  pointers 0.74x, MAE 9.48 bars (11.75); binary 0.73x, span F1 0.593 (0.384); countdown
  0.50x, MAE 6.04 bars (11.60). Every head learns; best step 800. Over seeds 0-4 every head
  learned on 5 of 5 seeds (QUALITY.md).
* With the original 13 features the binary head missed its constant's span F1 on 4 of 5
  seeds (0.22-0.36 against 0.384 on most): the ``move`` group is what made it learn.
* GOOG, held out, not trained on in the suite: every head learned on 4 of 5 seeds by the
  final weights and 5 of 5 by the best weights (QUALITY.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from moola.data.sources import backtesting_series_path, label_file
from moola.train import TrainConfig, Trainer

pytestmark = pytest.mark.slow


def real_series(name: str) -> Path:
    path = backtesting_series_path(name)
    if path is None:
        pytest.skip("the real bars come with the backtesting package: pip install backtesting")
    return path


def test_every_head_learns_on_eurusd_with_the_defaults() -> None:
    real_series("EURUSD")  # skip without the backtesting package
    config = TrainConfig(data="backtesting:EURUSD", seed=0, threads=1, out_dir=None, progress=False)
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
