#!/usr/bin/env python
"""Windows per second of label, feature build and train step at the sizes given (BENCHMARKS.md).

Usage: PYTHONPATH=src OMP_NUM_THREADS=1 python scripts/throughput.py 5000 20000 80000
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np

from moola.data.labeling import label_series
from moola.data.signal_free import random_walk_series
from moola.train.config import TrainConfig
from moola.train.loop import batch_indices
from moola.train.setup import Run, build_run
from moola.train.split_features import split_features

BATCH = 32


def fastest(work: Callable[[], object], rounds: int) -> float:
    """The shortest wall time of ``rounds`` calls (the least disturbed by other load)."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def train_steps(run: Run, first: int, count: int) -> None:
    x, y = run.data.x_train, run.data.y_train
    for step in range(first, first + count):
        batch = batch_indices(x.shape[0], BATCH, 0, step)
        run.step(x[batch], {key: value[batch] for key, value in y.items()}, step)


def measure(n_windows: int) -> str:
    series = random_walk_series(15 * (n_windows - 1) + 105, seed=1)
    start = time.perf_counter()
    windows = label_series(series)
    t_label = time.perf_counter() - start
    rows = np.arange(len(windows))
    t_features = fastest(
        lambda: split_features(windows, rows, rows[:0], feature_set="all"), rounds=2
    )
    run = build_run(TrainConfig(steps=40, threads=1, progress=False), windows=windows)
    train_steps(run, 0, 5)  # warm-up
    t_step = fastest(lambda: train_steps(run, 5, 20), rounds=2) / 20
    n = len(windows)
    return (
        f"| {n:,} | {n / t_label:,.0f} | {n / t_features:,.0f} | "
        f"{BATCH / t_step:,.0f} ({t_step * 1e3:.1f} ms/step) |"
    )


if __name__ == "__main__":
    print("| windows | label (windows/s) | feature build (windows/s) | train step (windows/s) |")
    for size in sys.argv[1:]:
        print(measure(int(size)), flush=True)
