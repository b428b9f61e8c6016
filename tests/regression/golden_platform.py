"""Which goldens a machine is held to: golden loss curves keyed by platform.

A short training run is bit-identical on one machine, but not across CPU vendors: MKL picks
its sgemm and vector-math (exp, log, tanh) kernels by vendor as well as by instruction set,
so an AMD EPYC and an Intel Xeon with the same AVX-512 differ in the last bit from step 1,
and the static and PCGrad runs amplify that to 1e-3 by step 60 (measured; see
``test_golden_curves.py``). So, as in HF transformers' ``Expectations``, each platform that
recorded its curves has its own folder under ``golden/``, named by its fingerprint, and is
held to them tightly. A machine with no folder of its own is compared with the default
platform's curves at the cross-machine tolerance, and the run says so.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

import torch

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "golden"

#: The platform whose curves every machine without its own is compared with: the first
#: recording (AMD EPYC, AVX-512, torch 2.13.0 CPU wheel, 2026-11-26).
DEFAULT_PLATFORM = "AuthenticAMD-AVX512-torch2.13.0"


@dataclass(frozen=True)
class Platform:
    """What decides a CPU run's floating-point results: the vendor (MKL dispatches on it),
    the instruction set ATen's and oneDNN's kernels use, and the torch release."""

    vendor: str
    isa: str
    torch: str

    @property
    def key(self) -> str:
        return f"{self.vendor}-{self.isa}-torch{self.torch}"


def cpu_vendor() -> str:
    """The CPUID vendor string (``GenuineIntel``, ``AuthenticAMD``), or the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine() or "unknown"


def current_platform() -> Platform:
    """This process's platform. The ISA is the one ATen dispatches to, so forcing
    ``ATEN_CPU_CAPABILITY`` yields another key, as it yields other kernels."""
    release = torch.__version__.split("+", 1)[0]
    return Platform(cpu_vendor(), torch.backends.cpu.get_cpu_capability(), release)


def recorded_platforms() -> list[str]:
    """Keys of every platform with goldens of its own."""
    return sorted(p.name for p in GOLDEN_DIR.iterdir() if p.is_dir())


@dataclass(frozen=True)
class GoldenChoice:
    """The goldens one machine is held to, and why."""

    platform: Platform
    folder: Path  # where its curves are read from
    known: bool  # False: no goldens of its own; the default platform's are used

    def describe(self) -> str:
        if self.known:
            return f"platform {self.platform.key}: its own goldens ({self.folder.name})"
        return (
            f"unknown platform {self.platform.key}: no goldens of its own, compared with "
            f"{self.folder.name}'s at the cross-machine tolerance (record its own with "
            "`nox -s golden`, and explain it in the commit)"
        )


def choose_goldens(plat: Platform | None = None, *, recording: bool = False) -> GoldenChoice:
    """The platform's own folder if it has one. Otherwise the default platform's, except
    when recording, which always writes to the platform's own folder (so that recording on a
    new machine adds its curves and never overwrites another platform's)."""
    plat = plat or current_platform()
    own = GOLDEN_DIR / plat.key
    if recording or own.is_dir():
        return GoldenChoice(plat, own, known=True)
    return GoldenChoice(plat, GOLDEN_DIR / DEFAULT_PLATFORM, known=False)


if __name__ == "__main__":  # `nox -s golden` asks which folder it records into
    print(current_platform().key)
