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

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from moola.errors import ConfigError
from moola.inference.core import BATCH_SIZE, inputs_for
from moola.inference.load import LoadedModel
from moola.inference.sources import PredictInput
from moola.tasks import make_tasks
from moola.verdict import evaluate_chunks, fit_label_priors, judge_head, label_prior_losses


def score(loaded: LoadedModel, data: PredictInput) -> dict[str, dict[str, Any]]:
    """Per head: ``loss``, ``baseline``, ``metrics``, ``learned`` and ``why``, on the
    labelled windows of ``data`` (their inputs the model's, drawn a batch at a time)."""
    windows = data.labelled
    if windows is None:
        raise ConfigError("scoring needs labelled windows (a labelled --data source)")
    countdown_units = loaded.config.get("countdown_units", "normalized")
    tasks = make_tasks(countdown_units=countdown_units, priorities=loaded.config.get("priorities"))
    labels = np.stack([windows.label, windows.expansion_start, windows.expansion_end], axis=1)
    k = windows.window
    priors = fit_label_priors(tasks, labels, k)

    def chunks() -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        for a in range(0, len(windows), BATCH_SIZE):
            rows = torch.from_numpy(labels[a : a + BATCH_SIZE])
            targets = tasks.build_targets(rows[:, 0], rows[:, 1], rows[:, 2], k)
            yield inputs_for(loaded, data, a, a + BATCH_SIZE), targets

    evaluation = evaluate_chunks(loaded.model, chunks(), tasks, priors, window=k)
    prior = label_prior_losses(tasks, priors, labels, k)
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
