"""The rule that says whether a head learned: its loss and its metric must beat its prior.

A falling loss is not proof of learning (the original binary head's loss fell while its span
F1 stayed 0.000), so a head is judged on two halves, each against its **prior**: the best
predictor that never looks at the prices, fitted on the training split only
(:mod:`moola.verdict.priors`). ``metrics.json`` keeps the older key names (``baseline``,
``baseline_accuracy``, ...) for the prior's values, so that earlier runs still read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

#: A head "learned" when its validation loss beats its prior's by this fraction.
LEARNED_MARGIN = 0.05


@dataclass(frozen=True)
class MetricRule:
    """The signal half of the verdict: ``key`` must beat the prior's ``prior_key``."""

    key: str
    prior_key: str
    higher_is_better: bool
    label: str  # how the metric is named in the ``why`` sentence
    unit: str = ""


#: Per head, the validation metric that must beat the prior's.
METRIC_RULES: dict[str, MetricRule] = {
    "type": MetricRule("accuracy", "baseline_accuracy", True, "accuracy"),
    "pointers": MetricRule("mae_bars", "baseline_mae_bars", False, "MAE", " bars"),
    "binary": MetricRule("f1", "baseline_f1", True, "span F1"),
    "countdown": MetricRule("mae_bars", "baseline_mae_bars", False, "MAE", " bars"),
    # pretraining's masked objective: the hidden bars' inputs (moola.train.objectives.reconstruction)
    "reconstruction": MetricRule("mae", "baseline_mae", False, "MAE"),
}


def loss_learned(
    initial: float, final: float, prior: float, margin: float = LEARNED_MARGIN
) -> bool:
    """The loss half of the verdict: beat the prior by ``margin``, and the initial loss."""
    return final <= (1.0 - margin) * prior and final < initial


#: The most decimals :func:`digits_apart` goes to before it prints ten significant digits.
MOST_DIGITS = 6


def digits_apart(a: float, b: float, digits: int = 2) -> int:
    """The fewest decimals, from ``digits`` on, that print ``a`` and ``b`` apart (``digits``
    when they are equal or not finite; ``MOST_DIGITS + 1`` when even those do not)."""
    if a == b or not (math.isfinite(a) and math.isfinite(b)):
        return digits
    for d in range(digits, MOST_DIGITS + 1):
        if f"{a:.{d}f}" != f"{b:.{d}f}":
            return d
    return MOST_DIGITS + 1


def decisive(value: float, bound: float, digits: int = 2) -> str:
    """``value`` to as many decimals as it takes to see which side of ``bound`` it lies on:
    a ratio of 0.953 against the 0.95 it must not exceed prints ``0.953``, not ``0.95``."""
    d = digits_apart(value, bound, digits)
    return f"{value:.10g}" if d > MOST_DIGITS else f"{value:.{d}f}"


@dataclass(frozen=True)
class Verdict:
    """Whether a head learned signal, with a short sentence that names the deciding part."""

    learned: bool
    why: str


def verdict(
    task: str,
    *,
    initial: float,
    final: float,
    prior: float,
    metrics: Mapping[str, float],
    margin: float = LEARNED_MARGIN,
    rule: MetricRule | None = None,
) -> Verdict:
    """The one rule that says whether a head learned: loss **and** metric beat the prior.

    Loss: the validation loss is at least ``margin`` below the prior's loss and below the
    initial loss; when ``metrics`` carries the paired bootstrap interval
    (:mod:`moola.verdict.interval`), its lower bound on ``prior − loss`` must be above zero.
    Metric: the head's validation metric beats the prior's (:data:`METRIC_RULES`). A head
    that learned only the prior passes the loss test and fails the metric test. A task
    without a rule (or without its metric) is judged by the loss alone, and ``why`` says so.
    ``rule`` replaces the task's entry in :data:`METRIC_RULES` (``moola.testing.assert_learns``
    judges any head).
    """
    ratio = final / prior if prior > 0 else float("inf")
    loss_ok = loss_learned(initial, final, prior, margin)
    # Every number that decides prints with the decimals that show which side it is on.
    loss_part = f"loss {decisive(ratio, 1 - margin)}x prior"
    if not final <= (1.0 - margin) * prior:
        loss_part += f" (needs <= {1 - margin:.2f}x)"
    if not final < initial:
        loss_part += f", not below its initial {initial:.4g}"
    if "paired_low" in metrics:  # the interval: the gain over the prior must hold (lower > 0)
        low = float(metrics["paired_low"])
        interval_ok = low > 0
        low_text = decisive(float(metrics["ratio_low"]), 1.0)
        high_text = decisive(float(metrics["ratio_high"]), 1.0)
        loss_part += f", 95% CI [{low_text}, {high_text}]x"
        if not interval_ok:  # the interval does not exclude "no better than the prior"
            loss_part += " (reaches 1x)" if metrics["ratio_low"] < 1 else " (all >= 1x)"
        loss_ok = loss_ok and interval_ok
    rule = rule if rule is not None else METRIC_RULES.get(task)
    if rule is None or rule.key not in metrics or rule.prior_key not in metrics:
        return Verdict(loss_ok, f"{loss_part}; no metric to check")
    value, of_prior = float(metrics[rule.key]), float(metrics[rule.prior_key])
    metric_ok = value > of_prior if rule.higher_is_better else value < of_prior
    digits = digits_apart(value, of_prior, 3 if rule.higher_is_better else 2)
    if metric_ok:
        op = ">" if rule.higher_is_better else "<"
    else:
        op = "<=" if rule.higher_is_better else ">="
    shown = [f"{v:.10g}" if digits > MOST_DIGITS else f"{v:.{digits}f}" for v in (value, of_prior)]
    metric_part = f"{rule.label} {shown[0]}{rule.unit} {op} prior {shown[1]}"
    learned = loss_ok and metric_ok
    joiner = "and" if loss_ok == metric_ok else "but"
    return Verdict(learned, f"{loss_part} {joiner} {metric_part}")
