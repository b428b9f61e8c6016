"""The one place where randomness is seeded and threads are fixed.

Reruns of the same configuration on the same machine must be bit-identical, and goldens
are recorded with a fixed thread count (a different number of threads can change the
order of floating-point reductions on the CPU).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used: numpy_generator needs none of it
    import torch

#: Thread count used for golden (snapshot) runs.
GOLDEN_THREADS = 1


def seed_everything(seed: int, *, threads: int | None = None) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); optionally fix the CPU thread count.

    Returns a fresh CPU generator seeded with ``seed`` for callers that want their own stream.
    """
    import torch

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
    import torch

    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)


def rng_state() -> dict[str, Any]:
    """Every RNG state that training consumes, as tensors and plain Python values only.

    Checkpoints are loaded with ``torch.load(weights_only=True)``, which refuses anything but
    tensors and plain data, so the Python and NumPy states (a tuple and a ``uint32`` array)
    are stored as int64 tensors here and rebuilt exactly by :func:`set_rng_state`.
    """
    import torch

    version, internal, gauss = random.getstate()
    algorithm, keys, pos, has_gauss, cached_gaussian = np.random.get_state()  # noqa: NPY002
    state: dict[str, Any] = {
        "python": {
            "version": int(version),
            "internal": torch.tensor(internal, dtype=torch.int64),
            "gauss": None if gauss is None else float(gauss),
        },
        "numpy": {
            "algorithm": str(algorithm),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64).copy()),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured, bit for bit."""
    import torch

    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss"]))
    npy = state["numpy"]
    keys = np.asarray(npy["keys"].numpy(), dtype=np.uint32)
    np.random.set_state(  # noqa: NPY002
        (npy["algorithm"], keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def numpy_generator(seed: int, stream: int) -> np.random.Generator:
    """A private NumPy generator for ``(seed, stream)``: randomness outside training (the
    verdict's bootstrap) that must be reproducible and must not move any training RNG."""
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    return np.random.default_rng([seed, stream])
