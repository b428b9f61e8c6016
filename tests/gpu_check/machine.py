"""What this run is on: card, driver, torch, CUDA and cuDNN, the TF32 switches, the commit."""

from __future__ import annotations

import platform
import subprocess
from typing import Any

from tests.gpu_check.layout import ROOT

#: The nvidia-smi fields that go into env.json (the driver is the second).
SMI_QUERY = "name,driver_version,memory.total,power.limit,clocks.max.sm"


def environment(dry_run: bool) -> dict[str, Any]:
    """Everything env.json records (torch is imported here, not when the package loads)."""
    import torch

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cuda_available": torch.cuda.is_available(),
        "dry_run": dry_run,
        "commit": git_commit(),
    }
    if torch.cuda.is_available():
        index = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        info.update(
            device_count=torch.cuda.device_count(),
            device=torch.cuda.get_device_name(index),
            capability=".".join(map(str, torch.cuda.get_device_capability(index))),
            memory_gib=round(props.total_memory / 2**30, 1),
        )
    info["nvidia_smi"] = nvidia_smi()
    return info


def nvidia_smi() -> dict[str, Any]:
    """The query fields as CSV and the full table; an ``error`` where there is no nvidia-smi."""
    try:
        brief = subprocess.run(
            ["nvidia-smi", f"--query-gpu={SMI_QUERY}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        full = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"query": SMI_QUERY, "csv": brief.stdout.strip(), "full": full.stdout}


def git_commit() -> str | None:
    """The working tree's commit, or None outside git."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None
