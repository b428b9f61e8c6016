"""``moola.collective``: alone, every reduction is the identity (the single-process
arithmetic stays bit for bit what it was); the torchrun group's are tested in
tests/regression/test_ddp.py."""

from __future__ import annotations

import torch

from moola.collective import SINGLE, current


def test_a_process_alone_reduces_nothing() -> None:
    assert current() is SINGLE and not SINGLE.active
    assert (SINGLE.world, SINGLE.rank) == (1, 0)
    a, b = torch.tensor([1.5, -2.0]), torch.tensor([[3.0]])
    SINGLE.mean_([a, b])
    SINGLE.sum_(a)
    SINGLE.agree_(b)
    SINGLE.barrier()
    assert torch.equal(a, torch.tensor([1.5, -2.0])) and torch.equal(b, torch.tensor([[3.0]]))
