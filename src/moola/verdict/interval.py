"""Confidence, not a point: a paired block-bootstrap interval of the head's gain over its prior.

Validation sets are small (tens of windows) and neighbouring windows share bars, so a loss
ratio alone flips with the seed. The head and its prior (:mod:`moola.verdict.priors`) are
scored on the **same** validation windows; the per-window difference ``prior − head``
(natural units; > 0: the head is better) is resampled by a moving-block bootstrap over
windows in time order, so that runs of windows that share bars are resampled together.

* Block length: the larger of ``n^(1/3)`` and the most validation windows that overlap one
  window's span (1 for independent windows), at most ``n``.
* ``n_boot`` resamples of ``ceil(n / block)`` blocks, truncated to ``n`` windows; the 95%
  percentile interval of the mean difference, and of the loss ratio ``head / prior`` on the
  same resamples.
* The generator comes from :func:`moola.seeding.numpy_generator` with the run's seed and a
  fixed stream, fresh at every evaluation: reruns are bit-identical, and no training RNG
  is touched.

The verdict then requires the interval's lower bound to be above zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from moola.seeding import numpy_generator
from moola.tasks import TaskSet
from moola.verdict.priors import Prior, prior_window_losses, window_losses

#: The bootstrap's stream id beside the run's seed (any fixed number; never the training's).
BOOTSTRAP_STREAM = 17
N_BOOT = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class BlockBootstrap:
    """How the validation windows are resampled: their time order, block length and seed."""

    order: np.ndarray  # positions into the validation set, in time order
    overlap_run: int = 1  # most validation windows that share bars with one window
    seed: int = 0
    n_boot: int = N_BOOT
    level: float = LEVEL

    @property
    def block(self) -> int:
        n = len(self.order)
        return max(1, min(n, max(self.overlap_run, math.ceil(n ** (1 / 3)))))


#: Resamples indexed at a time: the (rows, n) index block stays small whatever n is (all
#: 2000 at once cost 5 x 2000 x 8 bytes per validation window: 1.3 GB at 16k windows).
BOOT_CHUNK = 50
#: ...and at most this many (resample, window) cells at a time (8 MB of indices), so the
#: block stays small for a large validation set too.
BOOT_CELLS = 1 << 20


def _block_starts(boot: BlockBootstrap) -> np.ndarray:
    """(n_boot, n_blocks) first positions of the blocks: the bootstrap's only random draw."""
    n, b = len(boot.order), boot.block
    rng = numpy_generator(boot.seed, BOOTSTRAP_STREAM)
    return rng.integers(0, n - b + 1, size=(boot.n_boot, math.ceil(n / b)))


def _positions(boot: BlockBootstrap, starts: np.ndarray) -> np.ndarray:
    n, b = len(boot.order), boot.block
    positions = (starts[:, :, None] + np.arange(b)[None, None, :]).reshape(len(starts), -1)[:, :n]
    return np.asarray(boot.order)[positions]


def bootstrap_indices(boot: BlockBootstrap) -> np.ndarray:
    """(n_boot, n) resampled positions into the validation set (moving blocks in time order)."""
    return _positions(boot, _block_starts(boot))


def resampled_means(
    series: Mapping[str, np.ndarray], boot: BlockBootstrap, indices: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Each series' mean over every resample, (n_boot,) each: the same resamples for all.

    Without ``indices`` the resamples are indexed ``BOOT_CHUNK`` at a time (fewer when the
    validation set is large: ``BOOT_CELLS``), so memory does not grow with n_boot x n; each
    row's mean is the same, bit for bit, as over all rows.
    """
    if indices is not None:
        return {name: values[indices].mean(axis=1) for name, values in series.items()}
    starts = _block_starts(boot)
    means = {name: np.empty(boot.n_boot) for name in series}
    rows = max(1, min(BOOT_CHUNK, BOOT_CELLS // max(1, len(boot.order))))
    for a in range(0, boot.n_boot, rows):
        idx = _positions(boot, starts[a : a + rows])
        for name, values in series.items():
            means[name][a : a + len(idx)] = values[idx].mean(axis=1)
    return means


def paired_interval(
    head: np.ndarray, prior: np.ndarray, boot: BlockBootstrap, indices: np.ndarray | None = None
) -> dict[str, float]:
    """Mean paired difference ``prior − head`` and its interval; the ratio and its interval."""
    head, prior = np.asarray(head, dtype=np.float64), np.asarray(prior, dtype=np.float64)
    means = resampled_means({"head": head, "prior": prior}, boot, indices)
    return _interval(head, prior, means["head"], means["prior"], boot)


def _interval(
    head: np.ndarray,
    prior: np.ndarray,
    head_means: np.ndarray,
    prior_means: np.ndarray,
    boot: BlockBootstrap,
) -> dict[str, float]:
    diffs = prior_means - head_means
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = head_means / prior_means
    tail = (1.0 - boot.level) / 2
    lo, hi = np.quantile(diffs, [tail, 1 - tail])
    rlo, rhi = np.quantile(ratios, [tail, 1 - tail])
    return {
        "paired_diff": float(prior.mean() - head.mean()),
        "paired_low": float(lo),
        "paired_high": float(hi),
        "ratio_low": float(rlo),
        "ratio_high": float(rhi),
        "bootstrap_block": float(boot.block),
    }


def paired_intervals(
    outputs: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    tasks: TaskSet,
    boot: BlockBootstrap,
    priors: Mapping[str, Prior],
) -> dict[str, dict[str, float]]:
    """Per head: the paired interval of its losses on ``targets`` against its prior's, all
    heads on the same resamples (``outputs`` keyed by the tasks' output keys)."""
    predictions = {t.name: outputs[t.output_key] for t in tasks}
    head = window_losses(tasks, predictions, targets)
    prior = prior_window_losses(tasks, priors, targets)
    return paired_intervals_of(
        {name: np.asarray(head[name].numpy(), dtype=np.float64) for name in tasks.names},
        {name: np.asarray(prior[name].numpy(), dtype=np.float64) for name in tasks.names},
        boot,
    )


def paired_intervals_of(
    head: Mapping[str, np.ndarray], prior: Mapping[str, np.ndarray], boot: BlockBootstrap
) -> dict[str, dict[str, float]]:
    """Per head: the paired interval of its per-window losses ``head`` against its prior's
    ``prior`` (natural units, the validation windows in their order), all heads on the same
    resamples."""
    series = {}
    for name in head:
        series[f"{name}:head"] = np.asarray(head[name], dtype=np.float64)
        series[f"{name}:prior"] = np.asarray(prior[name], dtype=np.float64)
    means = resampled_means(series, boot)  # the same resamples for every head
    return {
        name: _interval(
            series[f"{name}:head"],
            series[f"{name}:prior"],
            means[f"{name}:head"],
            means[f"{name}:prior"],
            boot,
        )
        for name in head
    }
