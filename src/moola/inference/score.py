"""Score predictions on labelled windows with the training verdict, head by head.

The same losses, metrics and rule as training (:func:`moola.verdict.judge_head`), against
the same kind of prior-only predictors (per bar position for the per-bar heads), for the
loss and the metric alike. They are fitted on the scored windows themselves (the best prior
*in hindsight*), because the run's training split is not part of the weights file: a
stricter bar than training's, so a head that beats it here beats any prior-only predictor.
There is no initial loss to compare with, so the verdict's "below its initial loss" part is
not applied.
"""

from __future__ import annotations

from typing import Any

from moola.data.windows import OHLCWindows
from moola.inference.core import features_for
from moola.inference.load import LoadedModel
from moola.tasks import make_tasks
from moola.verdict import evaluate, fit_priors, judge_head, prior_losses


def score(loaded: LoadedModel, windows: OHLCWindows) -> dict[str, dict[str, Any]]:
    """Per head: ``loss``, ``baseline``, ``metrics``, ``learned`` and ``why``."""
    countdown_units = loaded.config.get("countdown_units", "normalized")
    tasks = make_tasks(countdown_units=countdown_units, priorities=loaded.config.get("priorities"))
    targets = tasks.build_targets(
        _tensor(windows.label),
        _tensor(windows.expansion_start),
        _tensor(windows.expansion_end),
        windows.window,
    )
    x = features_for(loaded, windows.ohlc)
    priors = fit_priors(tasks, targets)
    evaluation = evaluate(loaded.model, x, targets, tasks, targets, priors=priors)
    prior = prior_losses(tasks, priors, targets)
    heads: dict[str, dict[str, Any]] = {}
    for name in tasks.names:
        record = judge_head(
            name,
            initial=float("inf"),
            final=evaluation.losses[name],
            prior=prior[name],
            metrics=evaluation.metrics.get(name, {}),
        )
        heads[name] = {
            "loss": record["final"],
            "baseline": record["baseline"],
            "metrics": record["metrics"],
            "learned": record["learned"],
            "why": record["why"],
        }
    return heads


def score_table_rows(heads: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    from moola.report import metric_text, verdict_text

    header = ["head", "loss / prior", "metric", "verdict"]
    rows = [
        [
            name,
            f"{h['loss'] / h['baseline']:.3f}" if h["baseline"] else "-",
            metric_text(name, h["metrics"]),
            verdict_text(h),
        ]
        for name, h in heads.items()
    ]
    return header, rows


def _tensor(values: Any) -> Any:
    import torch

    return torch.from_numpy(values.copy())
