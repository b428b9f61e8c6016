"""The CPU thread count when none is given: as many as the machine has free, checked as it runs.

torch's default (one thread per core) is the fastest on an idle machine, but on a shared one
its OpenMP threads spin-wait for a sibling that another process has descheduled: on a busy
2-core machine 100 steps took 10x longer than with one thread. One thread always, though,
gives up 1.2x on an idle 2-core machine. So the default follows the load:

* at the start, ``threads = cores - load`` (the 1-minute load average, rounded), at least 1
  and at most torch's own default;
* at every log interval (a host sync anyway) it is recomputed, counting this run's own
  threads as free (the load average includes them), so a run that started alone drops to
  one thread when other work arrives, and goes back up when it leaves. The load average
  moves over about a minute, which keeps the count from flapping.

The thread count changes how fast a step runs, not what it computes on the CPU kernels this
model uses (30 steps of the default model with 1 and with 2 threads gave bit-identical
losses). ``--threads N``
fixes the count and turns all of this off.
"""

from __future__ import annotations

import os

import torch

#: torch's own default thread count, read when moola is first imported for training.
TORCH_DEFAULT_THREADS = torch.get_num_threads()


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def load_average() -> float | None:
    """The 1-minute load average, or None where the OS has none (Windows)."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def choose_threads(n_cores: int, load: float | None, own: int = 0, cap: int | None = None) -> int:
    """Free cores: ``n_cores - (load - own)``, rounded, within ``[1, cap or n_cores]``.

    ``own`` is the thread count this process already runs with (part of ``load``).
    """
    limit = max(1, min(n_cores, cap or n_cores))
    if load is None:
        return limit
    free = n_cores - max(0.0, load - own)
    return max(1, min(limit, int(free + 0.5)))


class AutoThreads:
    """Sets torch's thread count from the load; :meth:`update` re-checks it during a run."""

    def __init__(self) -> None:
        self.cap = TORCH_DEFAULT_THREADS  # the most torch would use
        self.threads = choose_threads(cores(), load_average(), cap=self.cap)
        torch.set_num_threads(self.threads)

    def update(self) -> int:
        threads = choose_threads(cores(), load_average(), own=self.threads, cap=self.cap)
        if threads != self.threads:
            torch.set_num_threads(threads)
            self.threads = threads
        return threads
