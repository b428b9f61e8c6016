"""The child of the capped-memory test: build (or open) a bar series' store, then train on it.

Run as ``python -m tests.benchmarks.capped_store BARS.npy STEPS`` with ``MOOLA_CACHE`` set;
the parent caps its memory (test_store_memory.py). It opens the store of the series (built
on the first run, memory-mapped from the cache on the next), then draws ``STEPS`` batches of
32 windows at random among every stride-1 window, labels them on the fly with ``moola
label``'s rule, and takes an AdamW step of the default model on them.

``python -m tests.benchmarks.capped_store BARS.npy STEPS train STRIDE`` trains the way
``moola train --data BARS.npy --stride STRIDE`` does instead: ``run_training`` on the raw
bars, cut every STRIDE bars and labelled on the fly into the labelled store (built into the
cache), its purged split, priors and verdict (1 % of the bars held out, evaluated at the
start and the end).

Either prints one JSON line: timings, and the peak memory figures the kernel kept (VmHWM:
peak resident set; VmPeak: peak address space) and the peak anonymous resident memory,
sampled every 20 ms.
"""

from __future__ import annotations

import json
import sys
import threading
import time


def status_mb(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(key):
                return int(line.split()[1]) // 1024
    return -1


def sampled_peak() -> list[int]:
    """The peak anonymous resident memory (MB), kept up to date by a sampling thread."""
    peak_anon = [0]

    def sample() -> None:
        while True:
            peak_anon[0] = max(peak_anon[0], status_mb("RssAnon:"))
            time.sleep(0.02)

    threading.Thread(target=sample, daemon=True).start()
    return peak_anon


def train(path: str, steps: int, stride: int) -> None:
    """``moola train --data BARS.npy --stride STRIDE --steps STEPS`` in this process."""
    peak_anon = sampled_peak()
    from moola.train.run import run_training

    started = time.perf_counter()
    outcome = run_training(
        {
            "data": path,
            "stride": stride,
            "steps": steps,
            "val_fraction": 0.01,
            "eval_every": 0,
            "telemetry_every": 0,
            "log_every": 1,
            "threads": 1,
            "progress": False,
            "out_dir": None,
        }
    )
    seconds = time.perf_counter() - started
    assert outcome.trainer is not None
    data = outcome.trainer.data
    print(
        json.dumps(
            {
                "windows": len(data.train) + len(data.val) + data.split.info.n_purged,
                "train": len(data.train),
                "val": len(data.val),
                "steps": outcome.trainer.step,
                "seconds": round(seconds, 1),
                "VmHWM_MB": status_mb("VmHWM:"),
                "VmPeak_MB": status_mb("VmPeak:"),
                "peak_RssAnon_MB": peak_anon[0],
            }
        ),
        flush=True,
    )


def main(path: str, steps: int) -> None:
    peak_anon = sampled_peak()
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from moola.data.labeling import LabelRule, label_window
    from moola.data.store import open_store
    from moola.models import JadeCompact, JadeConfig
    from moola.seeding import seed_everything
    from moola.tasks import make_tasks

    seed_everything(0, threads=1)
    started = time.perf_counter()
    store = open_store(path, cache=True)
    opened = time.perf_counter() - started
    after_open = {"VmHWM_MB": status_mb("VmHWM:"), "peak_RssAnon_MB": peak_anon[0]}
    tasks, rule = make_tasks(), LabelRule(window=store.window)
    model = JadeCompact(JadeConfig(n_features=store.n_features))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    dense = store.dense(stride=1)
    rng = np.random.default_rng(0)
    drawing = labelling = 0.0
    started = time.perf_counter()
    for _ in range(steps):
        t0 = time.perf_counter()
        starts = dense.starts(rng.integers(0, len(dense), size=32))
        x = store.gather(starts)
        t1 = time.perf_counter()
        labels = torch.tensor([label_window(w, rule) for w in store.ohlc(starts)])
        targets = tasks.build_targets(labels[:, 0], labels[:, 1], labels[:, 2], store.window)
        t2 = time.perf_counter()
        drawing, labelling = drawing + t1 - t0, labelling + t2 - t1
        loss = tasks.losses(model(x), targets).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if not torch.isfinite(loss):
            raise RuntimeError("the loss is not finite")
    trained = time.perf_counter() - started
    print(
        json.dumps(
            {
                "bars": store.n_bars,
                "windows": len(dense),
                "store_MB": store.nbytes() >> 20,
                "reused": store.info.reused,
                "open_s": round(opened, 2),
                "steps": steps,
                "train_s": round(trained, 2),
                "draw_ms_per_batch": round(1e3 * drawing / steps, 3),
                "label_ms_per_batch": round(1e3 * labelling / steps, 2),
                "after_open": after_open,
                "VmHWM_MB": status_mb("VmHWM:"),
                "VmPeak_MB": status_mb("VmPeak:"),
                "peak_RssAnon_MB": peak_anon[0],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[3] == "train":
        train(sys.argv[1], int(sys.argv[2]), int(sys.argv[4]))
    else:
        main(sys.argv[1], int(sys.argv[2]))
