"""Assertions for multi-task models, with failures that name the task, its value and the bound.

The balance checks take either a :class:`GradientShares` measured once
(``assert_balanced(shares, max_spread=10)``), so that one measurement serves several
checks, or the model, the losses and the shared part as before (they measure, keeping the
graph, so a second check on the same losses works too). Every frame here is hidden from
pytest's report (``__tracebackhide__``): a failure points at the user's line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import overload

import torch

from moola.testing.gradients import CheckUsageError, GradientShares, Shared, gradient_shares
from moola.verdict import LEARNED_MARGIN, MetricRule, judge_head


class BalanceError(AssertionError):
    """A task's gradient share on the shared part is out of bounds (names the task)."""


def _measured(
    check: str,
    measured: GradientShares | torch.nn.Module,
    losses: Mapping[str, torch.Tensor] | None,
    shared: Shared | None,
) -> GradientShares:
    """The measurement a check judges: given, or taken now (keeping the graph)."""
    __tracebackhide__ = True
    if isinstance(measured, GradientShares):
        if losses is not None or shared is not None:
            raise CheckUsageError(
                f"{check}: give a GradientShares alone, or the model, losses and shared part; "
                "not both"
            )
        return measured
    if not isinstance(measured, torch.nn.Module):
        raise CheckUsageError(
            f"{check} takes a GradientShares (from gradient_shares) or a torch.nn.Module, "
            f"got {type(measured).__name__}"
        )
    if losses is None or shared is None:
        raise CheckUsageError(
            f"{check}(model, ...) needs the losses and the shared part too: "
            f"{check}(model, losses, shared, ...), or {check}(gradient_shares(...), ...)"
        )
    return gradient_shares(measured, losses, shared)


@overload
def assert_balanced(measured: GradientShares, *, max_spread: float) -> GradientShares: ...


@overload
def assert_balanced(
    measured: torch.nn.Module,
    losses: Mapping[str, torch.Tensor],
    shared: Shared,
    max_spread: float,
) -> GradientShares: ...


def assert_balanced(
    measured: GradientShares | torch.nn.Module,
    losses: Mapping[str, torch.Tensor] | None = None,
    shared: Shared | None = None,
    max_spread: float | None = None,
) -> GradientShares:
    """Fail unless the largest task gradient norm on the shared part is within
    ``max_spread`` times the smallest. ``measured``: a :class:`GradientShares`, or the model
    (then ``losses`` and ``shared`` too). Returns the measurement (for further checks)."""
    __tracebackhide__ = True
    if max_spread is None:
        raise CheckUsageError("assert_balanced needs max_spread (a ratio of norms, >= 1)")
    if not max_spread >= 1:  # also catches NaN
        raise CheckUsageError(f"max_spread is a ratio of norms and must be >= 1, got {max_spread}")
    g = _measured("assert_balanced", measured, losses, shared)
    if not g.spread <= max_spread:  # also catches NaN
        weak, strong = int(g.norms.argmin()), int(g.norms.argmax())
        raise BalanceError(
            f"task {g.tasks[weak]!r} has share {g.share(g.tasks[weak]):.4g} of the shared "
            f"gradient (norm {float(g.norms[weak]):.4g}) against task {g.tasks[strong]!r} with share "
            f"{g.share(g.tasks[strong]):.4g} (norm {float(g.norms[strong]):.4g}): spread "
            f"{g.spread:.4g}x exceeds max_spread {max_spread:g}x"
        )
    return g


@overload
def assert_no_task_starved(measured: GradientShares, *, min_share: float) -> GradientShares: ...


@overload
def assert_no_task_starved(
    measured: torch.nn.Module,
    losses: Mapping[str, torch.Tensor],
    shared: Shared,
    min_share: float,
) -> GradientShares: ...


def assert_no_task_starved(
    measured: GradientShares | torch.nn.Module,
    losses: Mapping[str, torch.Tensor] | None = None,
    shared: Shared | None = None,
    min_share: float | None = None,
) -> GradientShares:
    """Fail if any task's share of the summed gradient norms on the shared part is below
    ``min_share``; the message lists every starved task with its share. ``measured`` as for
    :func:`assert_balanced`."""
    __tracebackhide__ = True
    if min_share is None:
        raise CheckUsageError("assert_no_task_starved needs min_share (a fraction in [0, 1))")
    if not 0 <= min_share < 1:
        raise CheckUsageError(f"min_share is a fraction in [0, 1), got {min_share}")
    g = _measured("assert_no_task_starved", measured, losses, shared)
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
    __tracebackhide__ = True
    if (metric is None) != (baseline_metric is None):
        raise CheckUsageError("give both metric and baseline_metric, or neither")
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
