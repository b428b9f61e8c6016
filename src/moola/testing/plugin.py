"""The pytest plugin (entry point ``pytest11: moola``): fixtures that make a test reproducible.

* ``moola_seed`` — the seed (0); override this fixture in a conftest to change it;
* ``fixed_threads`` — torch's CPU thread count fixed at :data:`moola.seeding.GOLDEN_THREADS`
  for the test (a different count can change the order of float reductions), restored after;
* ``seeded`` — Python, NumPy and torch seeded with ``moola_seed`` through
  :func:`moola.seeding.seed_everything`, threads fixed; returns a ``torch.Generator``
  seeded the same, for code that takes its own.

pytest loads this module in every session of an environment where moola is installed, so it
imports only pytest at load time: torch (and syrupy, never needed here) only when a test
asks for one of the fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def moola_seed() -> int:
    """The seed ``seeded`` uses; override it in a conftest.py to pick another."""
    return 0


@pytest.fixture
def fixed_threads() -> Iterator[int]:
    """torch's CPU thread count fixed for the test; yields the count."""
    import torch

    from moola.seeding import GOLDEN_THREADS

    before = torch.get_num_threads()
    torch.set_num_threads(GOLDEN_THREADS)
    yield GOLDEN_THREADS
    torch.set_num_threads(before)


@pytest.fixture
def seeded(moola_seed: int, fixed_threads: int) -> Any:
    """Every RNG seeded with ``moola_seed`` and the thread count fixed: reruns are bit-identical.
    Returns a ``torch.Generator`` seeded with ``moola_seed``."""
    from moola.seeding import seed_everything

    return seed_everything(moola_seed)
