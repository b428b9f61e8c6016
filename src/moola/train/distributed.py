"""``torchrun``: the process group of a data-parallel run, set up and torn down in one place.

Under ``torchrun --nproc_per_node N`` every process runs the same command with ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE`` set. :func:`process_group` joins them: gloo on the CPU,
nccl on GPUs (each process on the GPU of its local rank). The loop then finds the group
through :func:`moola.collective.current`: each process trains on its shard of every batch,
the gradients, the logged losses and the balancer's measurements are the whole batch's on
every rank, and only rank 0 writes the run folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from moola.errors import ConfigError


def launched() -> bool:
    """Whether this process is one of several started by ``torchrun``."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        raise ConfigError(
            f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a number of processes"
        ) from None


def rank() -> int:
    """This process's rank (0 outside ``torchrun``)."""
    return int(os.environ.get("RANK", "0")) if launched() else 0


@contextmanager
def process_group(device: str) -> Iterator[str]:
    """Join the ``torchrun`` group for the run (a no-op alone); yields the device this
    process trains on: ``device`` alone, else ``cuda:LOCAL_RANK`` (nccl) or ``cpu`` (gloo)."""
    if not launched():
        yield device
        return
    import torch.distributed as dist

    cuda = device != "cpu" and torch.cuda.is_available()
    if device.startswith("cuda") and not cuda:
        raise ConfigError(f"device {device!r} requested but CUDA is not available")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        yield f"cuda:{local}" if cuda else "cpu"
    finally:
        dist.destroy_process_group()
