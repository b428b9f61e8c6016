"""Judge one head: the one function behind every verdict moola prints or writes.

Training (final and best weights), every fold and the folds pooled, ``moola predict``'s
scoring and the pytest plugin all call :func:`judge_head`; the league reads what it wrote.
Its record is what ``metrics.json`` holds per head (``baseline`` is the prior's loss, the
key kept from earlier releases).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from moola.verdict.interval import BlockBootstrap, paired_interval
from moola.verdict.rules import LEARNED_MARGIN, MetricRule, verdict


def judge_head(
    name: str,
    *,
    initial: float,
    final: float,
    prior: float,
    metrics: Mapping[str, float],
    margin: float = LEARNED_MARGIN,
    rule: MetricRule | None = None,
) -> dict[str, Any]:
    """The record of one head: ``initial``, ``final``, ``baseline`` (its prior's loss),
    ``learned``, ``why`` and ``metrics``, by the rule of :func:`moola.verdict.rules.verdict`."""
    result = verdict(
        name, initial=initial, final=final, prior=prior, metrics=metrics, margin=margin, rule=rule
    )
    return {
        "initial": initial,
        "final": final,
        "baseline": prior,
        "learned": result.learned,
        "why": result.why,
        "metrics": dict(metrics),
    }


def judge_windows(
    names: Sequence[str],
    head: Mapping[str, np.ndarray],
    initial: Mapping[str, np.ndarray],
    prior: Mapping[str, np.ndarray],
    metrics: Mapping[str, Mapping[str, float]],
    boot: BlockBootstrap,
) -> dict[str, dict[str, Any]]:
    """Per head, from per-window natural-units losses (the head's, at initialisation, and its
    prior's, on the same windows in ``boot``'s order): the paired interval, then the verdict."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        interval = paired_interval(head[name], prior[name], boot)
        out[name] = judge_head(
            name,
            initial=float(initial[name].mean()),
            final=float(head[name].mean()),
            prior=float(prior[name].mean()),
            metrics={**metrics.get(name, {}), **interval},
        )
    return out
