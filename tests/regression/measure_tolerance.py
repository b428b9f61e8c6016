"""Measure how far the golden loss curves move across threads and CPU kernels.

Run: ``python tests/regression/measure_tolerance.py`` (a few minutes). It re-runs every
golden recipe in subprocesses with 1 and 2 threads and with ATen's CPU kernels forced to
``default`` (no SIMD), ``avx2`` and the machine's best, and prints the worst relative
difference per balancer against the 1-thread best-kernel run. The tolerances in
``test_golden_curves.py`` come from these numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BALANCERS = ["trunknorm", "static", "uncertainty", "gradnorm", "pcgrad", "famo"]
VARIANTS = {
    "1 thread": {},
    "2 threads": {"MOOLA_THREADS": "2"},
    "kernels=avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "kernels=default": {"ATEN_CPU_CAPABILITY": "default"},
}

CHILD = """
import json, os, sys
sys.path.insert(0, {here!r})
from conftest import run_config
from loss_curve_snapshot import curve_snapshot
from moola.train import Trainer
config = run_config(sys.argv[1])
if "MOOLA_THREADS" in os.environ:
    config.threads = int(os.environ["MOOLA_THREADS"])
print(json.dumps(curve_snapshot(Trainer(config).fit())["losses"]))
"""


def run(balancer: str, env: dict[str, str]) -> dict[str, list[float]]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(here=str(HERE)), balancer],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    for balancer in BALANCERS:
        reference = run(balancer, {})
        for name, env in list(VARIANTS.items())[1:]:
            other = run(balancer, env)
            worst = max(
                abs(a - b) / abs(a)
                for task in reference
                for a, b in zip(reference[task], other[task])
            )
            print(f"{balancer:<12} {name:<16} worst relative difference {worst:.2e}", flush=True)


if __name__ == "__main__":
    main()
