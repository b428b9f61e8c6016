"""The verdict, moola's central promise: a head learned only when it beats its prior on
windows it never trained on, with confidence.

``rules`` (the rule and the metric each head must win on), ``priors`` (the best
predictors that never look at the prices), ``interval`` (the paired block-bootstrap
interval of a head's gain over its prior), ``metrics`` (each head's metric beside its
prior's), ``evaluate`` (one evaluation of a model) and ``judge`` (the record of one head,
the one function every verdict goes through). It knows nothing of training, inference, the
plugin or the CLI, which all judge through it.
"""

from moola.verdict.evaluate import Evaluation, evaluate, evaluate_chunks
from moola.verdict.interval import (
    BlockBootstrap,
    paired_interval,
    paired_intervals,
    paired_intervals_of,
)
from moola.verdict.judge import judge_head, judge_windows
from moola.verdict.metrics import MetricSums, task_metrics
from moola.verdict.priors import (
    Prior,
    fit_label_priors,
    fit_priors,
    label_prior_losses,
    label_prior_window_losses,
    prior_losses,
    prior_metrics,
    prior_window_losses,
    window_losses,
)
from moola.verdict.rules import (
    LEARNED_MARGIN,
    METRIC_RULES,
    MetricRule,
    Verdict,
    loss_learned,
    verdict,
)

__all__ = [
    "LEARNED_MARGIN",
    "METRIC_RULES",
    "BlockBootstrap",
    "Evaluation",
    "MetricRule",
    "MetricSums",
    "Prior",
    "Verdict",
    "evaluate",
    "evaluate_chunks",
    "fit_label_priors",
    "fit_priors",
    "judge_head",
    "judge_windows",
    "label_prior_losses",
    "label_prior_window_losses",
    "loss_learned",
    "paired_interval",
    "paired_intervals",
    "paired_intervals_of",
    "prior_losses",
    "prior_metrics",
    "prior_window_losses",
    "task_metrics",
    "verdict",
    "window_losses",
]
