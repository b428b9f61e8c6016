"""Measure how far the golden loss curves move across threads and CPU kernels.

Run: ``python tests/regression/measure_tolerance.py`` (30-40 minutes on 2 cores). It prints:

1. **Across machines**, measured, not emulated: every recorded platform's goldens (and any
   curves file given with ``--reference FILE``, in the format of
   ``shared/reference/golden-curves-on-intel-xeon.json``) against the default platform's.
2. **Across kernels on this machine**: every golden recipe re-run in subprocesses with 2
   threads, and with each kernel restriction the CPU wheel obeys (MKL's conditional
   numerical reproducibility modes and instruction cap, oneDNN's ISA cap, ATen's CPU
   capability, oneDNN off), against the 1-thread run on this machine's best kernels.

For each: the worst relative difference over the points at steps <= 40 and <= 80, and the
worst ratio between second-half means of a curve. The tolerances in
``test_golden_curves.py`` come from these numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the repository: `tests` is a package there
sys.path.insert(0, str(ROOT))

from tests.regression.golden_platform import (  # noqa: E402
    DEFAULT_PLATFORM,
    GOLDEN_DIR,
    recorded_platforms,
)

BALANCERS = ["trunknorm", "static", "uncertainty", "gradnorm", "pcgrad", "famo"]
VARIANTS = {
    "1 thread": {},
    "2 threads": {"MOOLA_THREADS": "2"},
    "aten=avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "aten=default": {"ATEN_CPU_CAPABILITY": "default"},
    "onednn=avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "onednn=sse41": {"ONEDNN_MAX_CPU_ISA": "SSE41"},
    "onednn off": {"MOOLA_NO_MKLDNN": "1"},
    "mkl cbwr=compatible": {"MKL_CBWR": "COMPATIBLE"},
    "mkl cbwr=sse4_2": {"MKL_CBWR": "SSE4_2"},
    "mkl cbwr=avx2": {"MKL_CBWR": "AVX2"},
    "mkl instructions=avx2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "all avx2": {"MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
}
WINDOWS = (40, 80)

CHILD = """
import json, os, sys
sys.path.insert(0, {root!r})
import torch
if os.environ.get("MOOLA_NO_MKLDNN"):
    torch.backends.mkldnn.enabled = False
from conftest import run_config
from tests.regression.loss_curve_snapshot import curve_snapshot
from moola.train import Trainer
config = run_config(sys.argv[1])
if "MOOLA_THREADS" in os.environ:
    config.threads = int(os.environ["MOOLA_THREADS"])
snap = curve_snapshot(Trainer(config).fit())
print(json.dumps({"step": snap["step"], "losses": snap["losses"]}))
"""


def run(balancer: str, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(root=str(ROOT)), balancer],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(reference: dict[str, Any], other: dict[str, Any]) -> tuple[list[float], float]:
    """(worst relative difference at steps <= each of WINDOWS, worst second-half-mean ratio)."""
    early, late = [0.0] * len(WINDOWS), 1.0
    steps = reference["step"]
    for task, ref in reference["losses"].items():
        got = other["losses"][task]
        for k, window in enumerate(WINDOWS):
            early[k] = max(
                [early[k]]
                + [abs(a - b) / abs(a) for s, a, b in zip(steps, ref, got) if s <= window]
            )
        half = len(ref) // 2
        ref_mean, got_mean = sum(ref[half:]) / len(ref[half:]), sum(got[half:]) / len(got[half:])
        late = max(late, ref_mean / got_mean, got_mean / ref_mean)
    return early, late


def line(balancer: str, name: str, early: list[float], late: float) -> str:
    worst = "; ".join(f"steps<={w}: {e:.1e}" for w, e in zip(WINDOWS, early))
    return f"{balancer:<12} {name:<32} worst rel diff {worst}; second-half mean ratio {late:.2f}"


def golden(platform: str, balancer: str) -> dict[str, Any]:
    path = GOLDEN_DIR / platform / f"test_loss_curves_match_golden[{balancer}].json"
    return json.loads(path.read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, action="append", default=[])
    parser.add_argument("--skip-kernels", action="store_true", help="only compare machines")
    args = parser.parse_args()
    print(f"across machines, against {DEFAULT_PLATFORM}:")
    others = {p: {b: golden(p, b) for b in BALANCERS} for p in recorded_platforms()}
    for path in args.reference:
        others[path.name] = json.loads(path.read_text(encoding="utf-8"))["curves"]
    for name, curves in others.items():
        if name != DEFAULT_PLATFORM:
            for balancer in BALANCERS:
                print(
                    line(
                        balancer,
                        name,
                        *compare(golden(DEFAULT_PLATFORM, balancer), curves[balancer]),
                    )
                )
    if args.skip_kernels:
        return
    print("across kernels on this machine, against its 1-thread run:")
    for balancer in BALANCERS:
        reference = run(balancer, {})
        for name, env in list(VARIANTS.items())[1:]:
            print(line(balancer, name, *compare(reference, run(balancer, env))), flush=True)


if __name__ == "__main__":
    main()
