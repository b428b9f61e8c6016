"""Measure how far the golden loss curves move across threads and CPU kernels.

Run: ``python tests/regression/measure_tolerance.py`` (10-20 minutes on 2 cores). It re-runs
every golden recipe in subprocesses with 2 threads, with ATen's CPU kernels forced to
``avx2`` or ``default`` (no SIMD), and with oneDNN limited to AVX2 (what an AVX2-only CPU
runs), and prints, against the 1-thread run on this machine's best kernels:

* the worst relative difference over the points at steps <= EARLY_STEPS, and
* the worst ratio between second-half means of a curve.

The tolerances in ``test_golden_curves.py`` come from these numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BALANCERS = ["trunknorm", "static", "uncertainty", "gradnorm", "pcgrad", "famo"]
VARIANTS = {
    "1 thread": {},
    "2 threads": {"MOOLA_THREADS": "2"},
    "kernels=avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "kernels=default": {"ATEN_CPU_CAPABILITY": "default"},
    "onednn=avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
}
EARLY_STEPS = 80

CHILD = """
import json, os, sys
sys.path.insert(0, {here!r})
from conftest import run_config
from loss_curve_snapshot import curve_snapshot
from moola.train import Trainer
config = run_config(sys.argv[1])
if "MOOLA_THREADS" in os.environ:
    config.threads = int(os.environ["MOOLA_THREADS"])
snap = curve_snapshot(Trainer(config).fit())
print(json.dumps({"step": snap["step"], "losses": snap["losses"]}))
"""


def run(balancer: str, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(here=str(HERE)), balancer],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(reference: dict[str, Any], other: dict[str, Any]) -> tuple[float, float]:
    """(worst early relative difference, worst second-half-mean ratio)."""
    early, late = 0.0, 1.0
    steps = reference["step"]
    for task, ref in reference["losses"].items():
        got = other["losses"][task]
        early = max(
            [early] + [abs(a - b) / abs(a) for s, a, b in zip(steps, ref, got) if s <= EARLY_STEPS]
        )
        half = len(ref) // 2
        ref_mean, got_mean = sum(ref[half:]) / len(ref[half:]), sum(got[half:]) / len(got[half:])
        late = max(late, ref_mean / got_mean, got_mean / ref_mean)
    return early, late


def main() -> None:
    for balancer in BALANCERS:
        reference = run(balancer, {})
        for name, env in list(VARIANTS.items())[1:]:
            early, late = compare(reference, run(balancer, env))
            print(
                f"{balancer:<12} {name:<16} steps<={EARLY_STEPS}: worst rel diff {early:.1e}; "
                f"second-half mean ratio {late:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
