"""Which bars of a window the masked objective hides: a pure function of (seed, step, window).

The original pretrained its encoder by hiding 15 % of a window's bars, at random or in
10-bar patches, and reconstructing their inputs. Here the mask of a window is a hash of the
run's seed, the step and the window's first bar, so that

- a resumed run hides exactly the bars the uninterrupted run hid (no RNG state to save);
- a data-parallel run (``torchrun``) hides the same bars whichever rank draws the window;
- the validation windows keep one mask for the whole run (``step`` = :data:`VALIDATION`).

Per window, one bit of the hash picks the kind: **random** (exactly ``round(ratio·K)``
bars, the ones with the smallest hashes) or **patches** (``max(1, round(ratio·K / patch))``
runs of ``patch`` bars at hashed starts; they may overlap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moola.errors import ConfigError

#: The ``step`` of the validation windows' masks (no training step is negative).
VALIDATION = -1

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class MaskRule:
    """The share of bars hidden and the length of a patch (the original's 15 % and 10)."""

    ratio: float = 0.15
    patch: int = 10

    def check(self, window: int) -> None:
        if not 0.0 < self.ratio < 1.0:
            raise ConfigError(f"the mask ratio must be in (0, 1), got {self.ratio}")
        if not 1 <= self.patch <= window:
            raise ConfigError(f"a mask patch must be 1..{window} bars, got {self.patch}")


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit moves every output bit (uint64, wrapping)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _key(seed: int, step: int, starts: np.ndarray) -> np.ndarray:
    """One uint64 key per window, from the seed, the step and the window's first bar."""
    with np.errstate(over="ignore"):
        base = _mix(np.asarray([seed % 2**64], dtype=np.uint64) + _GOLDEN)
        base = _mix(base ^ np.uint64(step % 2**64))
        return _mix(base ^ (np.asarray(starts, dtype=np.int64).astype(np.uint64) * _GOLDEN))


def window_masks(
    seed: int, step: int, starts: np.ndarray, window: int, rule: MaskRule | None = None
) -> np.ndarray:
    """(N, K) bool: the bars hidden in the windows that start at ``starts`` at ``step``."""
    rule = rule or MaskRule()
    n, k = len(starts), window
    keys = _key(seed, step, starts)[:, None]
    with np.errstate(over="ignore"):
        bar_hash = _mix(keys ^ (np.arange(1, k + 1, dtype=np.uint64)[None, :] * _GOLDEN))
        kind = _mix(keys[:, 0] ^ np.uint64(0xD1B54A32D192ED03)) & np.uint64(1)
        n_patches = max(1, round(rule.ratio * k / rule.patch))
        patch_hash = _mix(keys ^ (np.arange(k + 1, k + 1 + n_patches, dtype=np.uint64) * _GOLDEN))
    masks = np.zeros((n, k), dtype=bool)
    # random bars: the round(ratio * K) bars with the smallest hashes
    n_bars = max(1, round(rule.ratio * k))
    hidden = np.argpartition(bar_hash, n_bars - 1, axis=1)[:, :n_bars]
    rows = np.arange(n)[:, None]
    masks[rows, hidden] = True
    # patches: runs of rule.patch bars from hashed starts
    patched = kind == 1
    if patched.any():
        first = (patch_hash[patched] % np.uint64(k - rule.patch + 1)).astype(np.int64)
        bars = (first[:, :, None] + np.arange(rule.patch)[None, None, :]).reshape(len(first), -1)
        patch_masks = np.zeros((len(first), k), dtype=bool)
        patch_masks[np.arange(len(first))[:, None], bars] = True
        masks[patched] = patch_masks
    return masks
