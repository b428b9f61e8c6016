"""A 10-million-bar corpus trains in a process capped at 2 GB (issue 27's memory target).

The series is a seeded random walk of 10,000,000 bars saved as a (T, 4) float64 ``.npy``
(320 MB). A child process (tests/benchmarks/capped_store.py) runs under a hard cap, builds
the series' store into ``MOOLA_CACHE`` (about 1 GB of memory-mapped files: 14 float32 features,
the close and range EMA, and the OHLC per bar), then trains the default model on batches of
stride-1 windows drawn from it; a second child opens the store again (no rebuild); a third
trains through ``run_training`` on the raw bars, as ``moola train --data bars.npy --stride 15``
does (labelled on the fly into its own cached store; split, priors, verdict).

**The cap is RLIMIT_DATA = 2 GiB**, set with ``resource.setrlimit`` before the child starts.
Measured here (BENCHMARKS.md, "Series store"): it caps everything the process allocates
itself (heap, anonymous maps, torch's and numpy's buffers) and an allocation past it fails
at once, while file-backed maps (torch's shared libraries, the store's memory-mapped files,
which the kernel may evict and read again) are outside it. ``RLIMIT_AS`` also counts those
maps: torch alone reserves about 700 MB of address space for ~370 MB resident, so it measures
the libraries more than the data. A cgroup limit would count resident file pages too, but
needs privileges that a test cannot assume. The test also checks the kernel's peak resident
set (VmHWM: anonymous and file pages together) against the same 2 GB.

Marker ``memory`` (``nox -s memory``): it takes a few minutes and writes 1.3 GB to disk.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from moola.data.signal_free import random_walk_series

BARS = 10_000_000
CAP_BYTES = 2 << 30
STEPS = 30
#: The stride of the run_training child (moola train's default): 666,660 labelled windows.
TRAIN_STRIDE = 15


def _env(cache: Path) -> dict[str, str]:
    root = Path(__file__).resolve().parents[2]
    path = os.environ.get("PYTHONPATH", "")
    return {
        **os.environ,
        "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}{os.pathsep}{path}",
        "OMP_NUM_THREADS": "1",
        "MOOLA_CACHE": str(cache),
    }


def capped_run(
    series: Path, cache: Path, limit: int = resource.RLIMIT_DATA, *, train_stride: int = 0
) -> dict:
    def cap() -> None:
        resource.setrlimit(limit, (CAP_BYTES, CAP_BYTES))

    mode = ["train", str(train_stride)] if train_stride else []
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.capped_store", str(series), str(STEPS), *mode],
        env=_env(cache),
        preexec_fn=cap,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.memory
def test_ten_million_bars_train_under_a_two_gigabyte_cap(tmp_path: Path) -> None:
    series = tmp_path / "bars.npy"
    np.save(series, random_walk_series(BARS, seed=1))
    built = capped_run(series, tmp_path / "cache")
    reopened = capped_run(series, tmp_path / "cache")
    print(f"\nbuilt: {built}\nreopened: {reopened}")
    assert built["bars"] == BARS and built["windows"] == BARS - 104
    assert not built["reused"] and reopened["reused"]
    for run in (built, reopened):
        assert run["VmHWM_MB"] <= CAP_BYTES >> 20, run
    assert reopened["open_s"] < built["open_s"] / 5
    # the raw bars through run_training, as `moola train --data bars.npy` (labelled on the fly)
    trained = capped_run(series, tmp_path / "cache", train_stride=TRAIN_STRIDE)
    print(f"run_training: {trained}")
    assert trained["windows"] == (BARS - 105) // TRAIN_STRIDE + 1
    assert trained["steps"] == STEPS and trained["VmHWM_MB"] <= CAP_BYTES >> 20, trained
