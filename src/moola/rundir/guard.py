"""The resume guard: a run may only continue on the data and settings it was started with.

A checkpoint records a fingerprint of the data and the whole configuration. On resume,
every setting outside :data:`RESUMABLE_SETTINGS` must be unchanged and the data must hash
to the same fingerprint; otherwise the run would silently continue a history that no
longer describes it. The refusal names each difference (``old -> new``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from moola.errors import MoolaError

#: Settings that may differ on resume, and why each is safe:
#: ``steps`` is the total to train to (only extending is meaningful, see :func:`check_resume`);
#: ``device``, ``threads`` and ``graph`` choose where and how the same computation runs;
#: ``out_dir`` and ``progress`` only affect where and how results are shown;
#: ``eval_every`` and ``checkpoint_every`` only add validation points or checkpoints, which
#: do not touch the training trajectory (evaluation restores the train mode and uses no RNG);
#: ``data`` is a path: the data's *content* is checked by the fingerprint instead.
#: Everything else is frozen, including ``log_every`` (changing it breaks the history grid:
#: an open interval would be averaged over a different number of steps).
RESUMABLE_SETTINGS: frozenset[str] = frozenset(
    {
        "steps",
        "device",
        "threads",
        "graph",
        "out_dir",
        "progress",
        "eval_every",
        "checkpoint_every",
        "patience",  # when to stop early, not how to train
        "telemetry_every",  # measures, never changes, the trajectory
        "tensorboard_dir",
        "data",
    }
)


#: What a checkpoint's ``fingerprint`` hashes. 2: the series store's data (its settings and
#: every array, :attr:`moola.data.store.SeriesStore.fingerprint`). 1 (checkpoints that
#: record no format): every window's float32 inputs and its labels, in row order.
DATA_FORMAT = 2


class ResumeMismatchError(MoolaError):
    """A resume would continue a run on other data or with other settings."""


def frozen_differences(saved: Mapping[str, Any], requested: Mapping[str, Any]) -> list[str]:
    """``name: old -> new`` for every frozen setting that differs."""
    differences = []
    for name in sorted(set(saved) | set(requested)):
        if name in RESUMABLE_SETTINGS:
            continue
        old, new = saved.get(name, "<unset>"), requested.get(name, "<unset>")
        if old != new:
            differences.append(f"{name}: {old!r} -> {new!r}")
    return differences


def check_resume(
    saved_config: Mapping[str, Any],
    requested_config: Mapping[str, Any],
    saved_step: int,
    path: str | os.PathLike[str],
) -> None:
    """Refuse a resume whose frozen settings differ, or whose total is below the saved step."""
    differences = frozen_differences(saved_config, requested_config)
    if differences:
        raise ResumeMismatchError(
            f"cannot resume {path}: setting(s) that must not change on resume differ: "
            + "; ".join(differences)
            + f". Only these may change: {', '.join(sorted(RESUMABLE_SETTINGS))}"
        )
    steps = requested_config.get("steps")
    if isinstance(steps, int) and steps < saved_step:
        raise ResumeMismatchError(
            f"cannot resume {path} to {steps} steps: it is already at step {saved_step} "
            "(--steps is the total, not the number of extra steps)"
        )


def check_same_data(
    saved: str,
    actual: str,
    path: str | os.PathLike[str],
    recorded: str | None = None,
    *,
    legacy: bool = False,
) -> None:
    """Refuse a resume on data whose fingerprint differs. ``legacy``: the checkpoint predates
    the series store (:data:`DATA_FORMAT` 1); its fingerprint hashes every window's inputs,
    which this data gave again (with the ``window`` inputs it trained on) or not."""
    if saved != actual:
        hint = (
            f"; it was trained on --data {recorded!r}: pass that (or leave --data out)"
            if recorded is not None
            else ""
        )
        era = (
            " (a checkpoint from before the series store: compared on every window's inputs, "
            "built per window as it was trained)"
            if legacy
            else ""
        )
        raise ResumeMismatchError(
            f"cannot resume {path}: the data differs from the data it was trained on{era} "
            f"(fingerprint {saved[:12]}… -> {actual[:12]}…){hint}"
        )
