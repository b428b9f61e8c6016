"""The one place where randomness is seeded and threads are fixed.

Reruns of the same configuration on the same machine must be bit-identical, and goldens
are recorded with a fixed thread count (a different number of threads can change the
order of floating-point reductions on the CPU).
"""

from __future__ import annotations

import random

import numpy as np
import torch

#: Thread count used for golden (snapshot) runs.
GOLDEN_THREADS = 1


def seed_everything(seed: int, *, threads: int | None = None) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); optionally fix the CPU thread count.

    Returns a fresh CPU generator seeded with ``seed`` for callers that want their own stream.
    """
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - third-party code may use the global RNG
    torch.manual_seed(seed)  # also seeds every CUDA device
    if threads is not None:
        set_threads(threads)
    return torch.Generator().manual_seed(seed)


def set_threads(threads: int) -> None:
    """Fix intra-op threads (inter-op threads can only be set before first use)."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)


def rng_state() -> dict[str, object]:
    """Every RNG state that training consumes, for checkpoints."""
    state: dict[str, object] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, object]) -> None:
    random.setstate(state["python"])  # type: ignore[arg-type]
    np.random.set_state(state["numpy"])  # type: ignore[arg-type]  # noqa: NPY002
    torch.set_rng_state(state["torch"])  # type: ignore[arg-type]
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])  # type: ignore[arg-type]
