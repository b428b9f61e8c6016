"""``judging.pt``: what ``moola predict`` needs to judge new windows as training judged its
validation windows, written atomically and read without running code.

Weights only, loadable with ``torch.load(weights_only=True)``: per head the prior-only
predictors fitted on the run's training split (``moola.verdict.priors.Prior``'s two
tensors), the run's initial weights (the "below its initial loss" half of the rule), the
sorted 64-bit hashes of the bars of its training and validation windows
(:mod:`moola.data.seen`: which windows of other data the run has seen), its seed (the
bootstrap's), and the sizes of both parts.

Why the initial weights themselves rather than a re-creation from the seed: they are what
the run started from whatever built them (the seeded initialisation today, pretrained
weights loaded by ``--init`` tomorrow), and re-creating them would tie every future
``moola predict`` to the exact order in which this release's setup draws from the RNG.
They cost one more copy of the weights (about 0.4 MB for the default model).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moola.atomic import atomic_write
from moola.errors import MoolaError
from moola.rundir.checkpoint import check_plain, read_weights_only
from moola.verdict.priors import Prior

JUDGING_FORMAT_VERSION = 1


class JudgingError(MoolaError):
    """A ``judging.pt`` that cannot be read as one; the message says what to do."""


@dataclass
class Judging:
    """What a run saved for judging other windows the way it judged its validation set."""

    priors: dict[str, Prior]
    initial_weights: dict[str, torch.Tensor]
    seen_bars: np.ndarray  # sorted distinct bar hashes (int64) of training and validation
    seed: int
    n_train: int
    n_val: int


def save_judging(path: str | os.PathLike[str], judging: Judging) -> Path:
    """Write ``judging.pt`` atomically (plain data and tensors only)."""
    document = {
        "format_version": JUDGING_FORMAT_VERSION,
        "priors": {
            name: {"loss_prediction": p.loss_prediction, "metric_prediction": p.metric_prediction}
            for name, p in judging.priors.items()
        },
        "initial_weights": dict(judging.initial_weights),
        "seen_bars": torch.from_numpy(np.ascontiguousarray(judging.seen_bars, dtype=np.int64)),
        "seed": int(judging.seed),
        "n_train": int(judging.n_train),
        "n_val": int(judging.n_val),
    }
    check_plain(document, "judging record")
    return atomic_write(path, lambda handle: torch.save(document, handle))


def load_judging(path: str | os.PathLike[str]) -> Judging:
    """Read ``judging.pt`` with ``weights_only=True``: no code runs."""
    path = Path(path)
    document = read_weights_only(path)
    if not isinstance(document, dict) or document.get("format_version") != JUDGING_FORMAT_VERSION:
        found = document.get("format_version") if isinstance(document, dict) else None
        raise JudgingError(
            f"{path} is not a judging record of format {JUDGING_FORMAT_VERSION} (found "
            f"{found!r}); retrain the run with this moola"
        )
    try:
        priors = {
            str(name): Prior(_tensor(p["loss_prediction"]), _tensor(p["metric_prediction"]))
            for name, p in document["priors"].items()
        }
        weights = {str(k): _tensor(v) for k, v in document["initial_weights"].items()}
        return Judging(
            priors=priors,
            initial_weights=weights,
            seen_bars=_tensor(document["seen_bars"]).numpy().astype(np.int64),
            seed=int(document["seed"]),
            n_train=int(document["n_train"]),
            n_val=int(document["n_val"]),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise JudgingError(f"{path} is incomplete ({type(exc).__name__}: {exc})") from None


def priors_of(priors: Mapping[str, Any]) -> dict[str, Prior] | None:
    """``priors`` when every value is a :class:`Prior` (the supervised objective's), else None."""
    if priors and all(isinstance(p, Prior) for p in priors.values()):
        return dict(priors)
    return None


def _tensor(value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"expected a tensor, got {type(value).__name__}")
    return value
