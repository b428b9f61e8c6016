"""Data parallelism's arithmetic in one place: what the train step and the balancers share
with the other processes of a ``torchrun`` job.

A run under ``torchrun`` (``moola pretrain``; README "Pretraining") is one process per
device, each drawing its shard of every global batch. Everything that decides the
trajectory must then be the same on every rank and equal to what one process would compute
on the whole batch: the gradients (averaged over ranks), the losses that are logged, and the
balancer's measurements (trunknorm's gradient norms: a norm of an average is not an average
of norms, so they are reduced before the weights are made). A single process uses
:data:`SINGLE`, whose operations do nothing, so its arithmetic is unchanged bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class Collective:
    """One process alone: every reduction is the identity (``world == 1``)."""

    world: int = 1
    rank: int = 0

    @property
    def active(self) -> bool:
        """Whether other processes take part (operations then communicate)."""
        return self.world > 1

    def mean_(self, tensors: Sequence[torch.Tensor]) -> None:
        """Replace each tensor by its mean over the ranks, in place."""

    def sum_(self, tensor: torch.Tensor) -> None:
        """Replace ``tensor`` by its sum over the ranks, in place."""

    def agree_(self, tensor: torch.Tensor) -> None:
        """Replace ``tensor`` by rank 0's value, in place: the same bits on every rank."""

    def barrier(self) -> None:
        """Wait until every rank gets here."""


class TorchCollective(Collective):
    """The processes of an initialised ``torch.distributed`` group (gloo or nccl)."""

    def __init__(self) -> None:
        import torch.distributed as dist

        self.dist = dist
        self.world = dist.get_world_size()
        self.rank = dist.get_rank()

    def mean_(self, tensors: Sequence[torch.Tensor]) -> None:
        if not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])  # one message for all of them
        self.dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for t in tensors:
            n = t.numel()
            t.copy_(flat[offset : offset + n].view_as(t))
            offset += n

    def sum_(self, tensor: torch.Tensor) -> None:
        self.dist.all_reduce(tensor)

    def agree_(self, tensor: torch.Tensor) -> None:
        self.dist.broadcast(tensor, src=0)

    def barrier(self) -> None:
        self.dist.barrier()


#: The collective of a process that runs alone.
SINGLE = Collective()


def current() -> Collective:
    """The collective of this process: its ``torch.distributed`` group when one with more
    than one process is initialised, else :data:`SINGLE`."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return TorchCollective()
    return SINGLE
