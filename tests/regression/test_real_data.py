"""Real market bars: what the honest verdict says on hourly EURUSD with the defaults.

The bars come from the installed ``backtesting`` package (AGPL-3.0): they are read where
pip put them, at test time, and no excerpt is committed. ``EURUSD.csv`` (5000 hourly bars)
is the tuned case; ``GOOG.csv`` (2148 daily bars) is held out and only checked for sane
labels here, never trained on in the suite.

Measured on 2026-11-27 against the one-number constants of the verdict before issue 17
(seed 0, 1 thread, 1000 steps, the default ``all`` features; final weights, val loss /
constant, metric vs constant); the honest verdict's figures are in the first test below:

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


def test_the_honest_verdict_on_eurusd_with_the_defaults() -> None:
    """What the honest verdict (issue 17) says on EURUSD, seed 0, final weights.

    Since the baselines are the per-position priors and each head needs its paired
    block-bootstrap interval above zero, the final weights give (2026-12-03):

    * pointers: loss 0.74x its prior, 95% CI [0.51, 0.87]x, MAE 9.48 < 11.72 bars: learned;
    * binary: 0.84x (it was 0.73x of the one-number constant), CI [0.71, 0.92]x, span F1
      0.593 > the per-position prior's 0.486 (the all-in-span constant's was 0.384): learned;
    * countdown: 0.91x (0.50x of the one-number constant), CI [0.74, 0.98]x, MAE 6.04 <
      the per-position median's 6.39 bars (the one-number median's: 11.60): learned, barely;
    * type: loss 0.80x and accuracy 0.667 > 0.383, but its interval [0.61, 1.02]x reaches
      1x on 60 validation windows: **not learned**. The old point verdict called it learned.

    The best weights (chosen on these same 60 windows, so not an honest judge) pass on every
    head, type at 0.76x [0.59, 0.90]x. This test asserts the honest outcome: type not
    learned *because of its interval alone* (its loss margin and its accuracy hold), every
    other head learned.
    """
    real_series("EURUSD")  # skip without the backtesting package
    config = TrainConfig(data="backtesting:EURUSD", seed=0, threads=1, out_dir=None, progress=False)
    summary = Trainer(config).fit().task_summary()
    learned = {name: t["learned"] for name, t in summary.items()}
    whys = {name: t["why"] for name, t in summary.items()}
    assert learned == {"type": False, "pointers": True, "binary": True, "countdown": True}, whys
    t = summary["type"]
    assert t["final"] <= 0.95 * t["baseline"] and t["metrics"]["paired_low"] <= 0, whys["type"]
    assert t["metrics"]["accuracy"] > t["metrics"]["baseline_accuracy"], whys["type"]


@pytest.mark.parametrize("name", ["EURUSD", "GOOG"])
def test_real_series_label_into_three_sizeable_classes(name: str) -> None:
    """The rule was set once; on both files every class holds at least 15% of the windows."""
    windows = label_file(real_series(name))
    counts = np.bincount(windows.label, minlength=3)
    assert counts.min() >= 0.15 * len(windows), counts
    assert len(windows) >= 130  # GOOG: (2148 - 105) // 15 + 1 = 137; EURUSD: 327


@pytest.mark.parametrize("name", ["EURUSD", "GOOG"])
def test_real_windows_without_start_bar_get_the_same_purged_split(name: str) -> None:
    """A real series as a pre-cut file (start_bar dropped, rows shuffled): the same split."""
    from moola.data import OHLCWindows, chronological_split
    from moola.data.overlap import choose_split

    timed = label_file(real_series(name))
    order = np.random.default_rng(0).permutation(len(timed))
    plain = OHLCWindows(
        timed.ohlc[order],
        timed.label[order],
        timed.expansion_start[order],
        timed.expansion_end[order],
    )
    split = choose_split(plain)
    train, val = chronological_split(timed.start_bar, window=timed.window)
    assert split.info.kind == "purged" and split.info.n_series == 1
    assert sorted(order[split.train].tolist()) == train.tolist()
    assert sorted(order[split.val].tolist()) == val.tolist()
