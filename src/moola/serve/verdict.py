"""The run's own verdict on the served weights, per head, as ``GET /model`` states it.

A client should know which heads learned before it trusts them. The verdict is the one
``moola predict`` shows beside its own (:func:`moola.inference.run_verdict.run_verdict`:
``metrics.json``'s ``tasks`` for final weights, ``best.tasks`` for best weights, and only
when it judged the very step that is served); here it only takes the response's shape.
"""

from __future__ import annotations

from moola.inference.load import LoadedModel
from moola.inference.run_verdict import run_verdict as read_run_verdict
from moola.serve.schemas import HeadVerdict, Verdict
from moola.tasks import TASK_NAMES


def unknown(reason: str) -> Verdict:
    return Verdict(
        known=False,
        source=reason,
        heads={name: HeadVerdict(learned=None, why=f"unknown: {reason}") for name in TASK_NAMES},
    )


def run_verdict(loaded: LoadedModel) -> Verdict:
    """The verdict of ``metrics.json`` beside the served weights file, for its weights."""
    found = read_run_verdict(loaded)
    if not found.known:
        return unknown(found.source)
    missing = [name for name in TASK_NAMES if name not in found.heads]
    if missing:
        return unknown(f"{found.source} has no verdict for {', '.join(missing)}")
    heads = {
        name: HeadVerdict(learned=found.heads[name]["learned"], why=found.heads[name]["why"])
        for name in TASK_NAMES
    }
    return Verdict(known=True, source=found.source, heads=heads)
