"""The data fingerprint: the hash a checkpoint records so that a resume on other data is refused."""

from __future__ import annotations

import hashlib
from typing import Protocol

import torch


class FeaturesAndLabels(Protocol):
    """What the fingerprint hashes: a :class:`moola.data.dataset.WindowDataset`'s tensors."""

    x: torch.Tensor
    label: torch.Tensor
    expansion_start: torch.Tensor
    expansion_end: torch.Tensor


class Fingerprint:
    """The data fingerprint, fed piece by piece: each named array's header (dtype and shape)
    once, then its bytes in row order, in any number of chunks. The digest is the same as
    hashing each whole array at once, so the features never need a full-size byte copy."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()

    def start(self, name: str, dtype: torch.dtype, shape: tuple[int, ...]) -> None:
        self._digest.update(f"{name}:{dtype}:{shape};".encode())

    def update(self, chunk: torch.Tensor) -> None:
        flat = chunk.detach().cpu().contiguous()
        if flat.numel():
            self._digest.update(flat.view(torch.uint8).numpy().data)

    def add(self, name: str, tensor: torch.Tensor) -> None:
        """A whole (small) array: header and bytes."""
        self.start(name, tensor.dtype, tuple(tensor.shape))
        self.update(tensor)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def data_fingerprint(dataset: FeaturesAndLabels) -> str:
    """sha256 of the features and the targets (shapes, dtypes and bytes), as hex."""
    fingerprint = Fingerprint()
    for name, tensor in (
        ("x", dataset.x),
        ("label", dataset.label),
        ("expansion_start", dataset.expansion_start),
        ("expansion_end", dataset.expansion_end),
    ):
        fingerprint.add(name, tensor)
    return fingerprint.hexdigest()
