"""Fix of issue 19: the sweep's time left comes from the mean run time and the parallel
slots, not from rich's completions-per-second (which said 0:00:01 with 35 s to go after a
burst of parallel runs finished together)."""

from __future__ import annotations

import pytest

from moola.sweep.progress import SweepProgress, time_left
from moola.sweep.task import RunOutcome


def test_time_left_counts_the_running_wave_and_the_queued_ones() -> None:
    # 8 runs of ~35 s on 4 slots; the first 4 just finished together: one more wave of 35 s
    assert time_left(8, 4, 4, 35.0, since_last=0.0) == pytest.approx(35.0)
    # 10 s after that burst: 25 s left
    assert time_left(8, 4, 4, 35.0, since_last=10.0) == pytest.approx(25.0)
    # 12 runs, 4 done, 4 slots: the running wave, then 4 queued (one more wave)
    assert time_left(12, 4, 4, 35.0, since_last=0.0) == pytest.approx(70.0)
    # 5 queued on 4 slots take two waves
    assert time_left(13, 4, 4, 35.0, since_last=5.0) == pytest.approx(30.0 + 2 * 35.0)
    assert time_left(8, 0, 4, None, since_last=3.0) is None  # no run finished yet
    assert time_left(8, 8, 4, 35.0, since_last=0.0) == 0.0
    assert time_left(8, 7, 4, 35.0, since_last=60.0) == 0.0  # late: never negative


def test_the_progress_feeds_the_mean_of_the_finished_runs() -> None:
    progress = SweepProgress(enabled=False)
    progress.start(total=6, already_done=0, slots=2)
    assert progress.seconds_left() is None
    for seconds in (30.0, 40.0):
        progress.outcome(RunOutcome(name=f"r{seconds}", ok=True, seconds=seconds))
    left = progress.seconds_left()
    # mean 35 s; 4 left on 2 slots: the running pair (~35 s) then one more pair
    assert left is not None and 69.0 < left <= 70.0
