"""Assertions for multi-task models, with failures that name the task, its value and the bound."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from moola.testing.gradients import GradientShares, Shared, gradient_shares
from moola.verdict import LEARNED_MARGIN, MetricRule, judge_head


class BalanceError(AssertionError):
    """A task's gradient share on the shared part is out of bounds (names the task)."""


def assert_balanced(
    model: torch.nn.Module,
    losses: Mapping[str, torch.Tensor],
    shared: Shared,
    max_spread: float,
) -> GradientShares:
    """Fail unless the largest task gradient norm on ``shared`` is within ``max_spread``
    times the smallest. Returns the measurement (for further checks)."""
    if max_spread < 1:
        raise ValueError(f"max_spread is a ratio of norms and must be >= 1, got {max_spread}")
    g = gradient_shares(model, losses, shared)
    if not g.spread <= max_spread:  # also catches NaN
        weak, strong = int(g.norms.argmin()), int(g.norms.argmax())
        raise BalanceError(
            f"task {g.tasks[weak]!r} has share {g.share(g.tasks[weak]):.4g} of the shared "
            f"gradient (norm {float(g.norms[weak]):.4g}) against task {g.tasks[strong]!r} with share "
            f"{g.share(g.tasks[strong]):.4g} (norm {float(g.norms[strong]):.4g}): spread "
            f"{g.spread:.4g}x exceeds max_spread {max_spread:g}x"
        )
    return g


def assert_no_task_starved(
    model: torch.nn.Module,
    losses: Mapping[str, torch.Tensor],
    shared: Shared,
    min_share: float,
) -> GradientShares:
    """Fail if any task's share of the summed gradient norms on ``shared`` is below
    ``min_share``; the message lists every starved task with its share."""
    if not 0 <= min_share < 1:
        raise ValueError(f"min_share is a fraction in [0, 1), got {min_share}")
    g = gradient_shares(model, losses, shared)
    starved = [(t, s) for t, s in zip(g.tasks, g.shares.tolist()) if not s >= min_share]
    if starved:
        listed = ", ".join(f"task {t!r} has share {s:.4g}" for t, s in starved)
        raise BalanceError(
            f"starved: {listed} of the shared gradient, below min_share {min_share:g}"
        )
    return g


def assert_learns(
    task: str,
    *,
    initial: float,
    final: float,
    baseline: float,
    metric: float | None = None,
    baseline_metric: float | None = None,
    higher_is_better: bool = True,
    metric_name: str = "metric",
    margin: float = LEARNED_MARGIN,
) -> str:
    """Fail unless the head ``task`` learned signal, by ``moola train``'s verdict rule.

    Loss: the validation loss ``final`` is at least ``margin`` below ``baseline`` (the loss
    of the best predictor that ignores the inputs, fitted on the training split: its prior)
    and below ``initial``.
    Metric (when ``metric`` and ``baseline_metric`` are given): the head's metric beats the
    prior's (higher or lower is better). Returns the verdict's sentence.
    """
    if (metric is None) != (baseline_metric is None):
        raise ValueError("give both metric and baseline_metric, or neither")
    metrics: dict[str, float] = {}
    rule = None
    if metric is not None and baseline_metric is not None:
        metrics = {"value": float(metric), "baseline": float(baseline_metric)}
        rule = MetricRule("value", "baseline", higher_is_better, metric_name)
    result = judge_head(
        task,
        initial=float(initial),
        final=float(final),
        prior=float(baseline),
        metrics=metrics,
        margin=margin,
        rule=rule,
    )
    if not result["learned"]:
        raise AssertionError(f"task {task!r} did not learn: {result['why']}")
    return str(result["why"])
