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
    block-bootstrap interval above zero, the final weights give, on an AMD EPYC (2026-12-03)
    and an Intel Xeon (2026-12-04):

    * pointers: loss 0.74x / 0.59x its prior, intervals [0.51, 0.87]x / below 1x, MAE below
      the prior's 11.72 bars: learned on both;
    * binary: 0.84x, span F1 0.593 / 0.555 > the per-position prior's 0.486: learned on both;
    * countdown: 0.91x [0.74, 0.98]x (learned, barely) / 0.92x [0.76, 1.02]x (its interval
      reaches 1x: not learned), MAE 6.04 / 6.06 < the per-position median's 6.39 bars;
    * type: 0.80x [0.61, 1.02]x (not learned: the interval alone) / 0.71x [0.52, 0.88]x
      (learned), accuracy 0.667 > 0.383 on both.

    Type and countdown sit on the edge of their intervals on 60 validation windows, and the
    platforms' float rounding, which parts the runs after a few dozen steps, decides their
    verdicts. This test asserts what holds on both: pointers and binary learned; type and
    countdown beat their prior's loss by the 5% margin and their prior's metric, whatever
    their intervals say; and every head's verdict is the rule applied to its own figures.

    These figures are the original's per-window inputs (``inputs="window"``), which this
    test keeps so that they stay comparable. The default since issue 27 is ``series``
    inputs, which on EURUSD's overlapping stride-15 windows are other inputs: there seed 0's
    binary head misses its prior's span F1 (0.448 against 0.486) while seeds 1 and 2 learn
    it, and type and countdown learn on more seeds (QUALITY.md, table 4).
    """
    real_series("EURUSD")  # skip without the backtesting package
    config = TrainConfig(
        data="backtesting:EURUSD",
        seed=0,
        threads=1,
        out_dir=None,
        progress=False,
        inputs="window",
    )
    summary = Trainer(config).fit().task_summary()
    whys = {name: t["why"] for name, t in summary.items()}
    assert summary["pointers"]["learned"] and summary["binary"]["learned"], whys
    for name in ("type", "countdown"):
        t = summary[name]
        assert t["final"] <= 0.95 * t["baseline"], whys[name]
    assert summary["type"]["metrics"]["accuracy"] > summary["type"]["metrics"]["baseline_accuracy"]
    countdown = summary["countdown"]["metrics"]
    assert countdown["mae_bars"] < countdown["baseline_mae_bars"], whys["countdown"]
    for name, t in summary.items():  # the verdict is the rule, on the figures it reports
        m = t["metrics"]
        rule_says = (
            t["final"] <= 0.95 * t["baseline"] and t["final"] < t["initial"] and m["paired_low"] > 0
        )
        assert rule_says or not t["learned"], whys[name]  # learned needs the loss part whole


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
    from moola.data.splits import choose_split

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
