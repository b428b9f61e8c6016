"""Score predictions on labelled windows with the training verdict, head by head.

The same losses, metrics and rule as training (``moola.train.metrics``), against the same
prior-only predictors (``moola.train.priors``: per bar position for the per-bar heads), for
the loss and the metric alike. They are fitted on the scored windows themselves (the best
prior *in hindsight*), because the run's training split is not part of the weights file: a
stricter bar than training's, so a head that beats it here beats any prior-only predictor. There is no initial loss to
compare with, so the verdict's "below its initial loss" part is not applied.
"""

from __future__ import annotations

from typing import Any

from moola.data.windows import OHLCWindows
from moola.inference.core import features_for
from moola.inference.load import LoadedModel
from moola.tasks import make_tasks
from moola.train.metrics import evaluate, verdict
from moola.train.priors import fit_priors, prior_losses


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
    baselines = prior_losses(tasks, priors, targets)
    heads: dict[str, dict[str, Any]] = {}
    for name in tasks.names:
        metrics = evaluation.metrics.get(name, {})
        result = verdict(
            name,
            initial=float("inf"),
            final=evaluation.losses[name],
            baseline=baselines[name],
            metrics=metrics,
        )
        heads[name] = {
            "loss": evaluation.losses[name],
            "baseline": baselines[name],
            "metrics": metrics,
            "learned": result.learned,
            "why": result.why,
        }
    return heads


def score_table_rows(heads: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    from moola.report import metric_text, verdict_text

    header = ["head", "loss / const", "metric", "verdict"]
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
