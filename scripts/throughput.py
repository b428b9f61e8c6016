#!/usr/bin/env python
"""Windows per second: label, feature build (split_features), train step (batch 32), at 3 sizes."""

import sys, time
import numpy as np, torch
from moola.data.labeling import label_series
from moola.data.signal_free import random_walk_series
from moola.train.config import TrainConfig
from moola.train.setup import build_run
from moola.train.split_features import split_features
from moola.train.loop import batch_indices


def best(f, reps):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return min(ts)


for n in [int(a) for a in sys.argv[1:]]:
    series = random_walk_series(15 * (n - 1) + 105, seed=1)
    t_label = best(lambda: label_series(series), 1)
    windows = label_series(series)
    idx = np.arange(len(windows))
    t_feat = best(lambda: split_features(windows, idx, idx[:0], feature_set="all"), 2)
    cfg = TrainConfig(steps=40, threads=1, progress=False)
    run = build_run(cfg, windows=windows)
    x, y = run.data.x_train, run.data.y_train

    def steps(k=20, start=0):
        for s in range(start, start + k):
            b = batch_indices(x.shape[0], 32, 0, s)
            run.step(x[b], {key: v[b] for key, v in y.items()}, s)

    steps(5)
    t_step = best(lambda: steps(20, 5), 2) / 20
    print(
        f"| {len(windows):,} | {len(windows) / t_label:,.0f} | {len(windows) / t_feat:,.0f} | {32 / t_step:,.0f} ({t_step * 1e3:.1f} ms/step) |",
        flush=True,
    )
