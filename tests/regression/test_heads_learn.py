"""Every head must learn; the check that says so must be able to say it did not.

The check is the run's own verdict (``moola.train.verdict``, via ``TrainResult.task_summary``):
a head learned when its final validation loss is at least 5% below its prior-only baseline
(fitted on the training split: per bar position for countdown and binary, the class prior
for type, per column for pointers; ``moola.verdict.priors``) and below its initial loss, the
95% block-bootstrap interval of the paired difference is above zero, **and** its
validation metric beats the prior's (type accuracy > majority class, pointers MAE < the
training median's, countdown MAE < the per-position median's, binary span F1 > the
per-position prior's). A falling loss alone is not enough: the original binary head's loss
fell while it learned only the prior, and
``test_a_head_that_learned_only_the_prior_did_not_learn`` shows that this verdict says so.

Measured on 2026-12-03 (seed 0, 1 thread; the verdict's ``why``):

* default balancer, DEFAULT_RUN: type "loss 0.65x prior, 95% CI [0.57, 0.72]x and accuracy
  0.608 > prior 0.402"; pointers 0.13x [0.09, 0.20], MAE 1.79 < 6.10 bars; binary 0.17x
  [0.12, 0.22], span F1 0.939 > 0.524; countdown 0.27x [0.23, 0.32], MAE 1.10 < 2.85 bars
  (the one-number median's MAE was 12.44). Every head learned.
* legacy normaliser, raw countdown, the failing run's budget: the countdown is not learned.
* default balancer, normalised countdown, the same budget: countdown "loss 1.12x prior
  (needs <= 0.95x), 95% CI [0.98, 1.33]x (reaches 1x) and MAE 3.37 bars >= prior 2.85" on
  an AMD EPYC, 0.84x [0.74, 0.99]x and MAE 2.68 bars on an Intel Xeon: at this budget the
  verdict against the position prior depends on the platform's rounding, so only the
  unsticking itself is asserted.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch

from moola.tasks import make_tasks
from moola.train import TrainConfig, Trainer, TrainResult
from moola.verdict import fit_priors, loss_learned, task_metrics, verdict
from tests.helpers.configs import FAILING_RUN


def heads_that_did_not_learn(result: TrainResult) -> list[str]:
    return [name for name, t in result.task_summary().items() if not t["learned"]]


def describe(result: TrainResult) -> dict[str, str]:
    """The verdict's own sentence per head, for failure messages."""
    return {name: t["why"] for name, t in result.task_summary().items()}


def test_every_head_learns_under_the_default_balancer(short_run) -> None:
    result = short_run("trunknorm")
    assert heads_that_did_not_learn(result) == [], describe(result)


@functools.cache
def failing_run() -> TrainResult:
    return Trainer(TrainConfig(**FAILING_RUN)).fit()


def test_the_check_catches_the_original_countdown_starvation() -> None:
    """The legacy normaliser on raw countdown targets: the countdown must be reported stuck."""
    result = failing_run()
    assert "countdown" in heads_that_did_not_learn(result), describe(result)


def test_same_budget_default_balancer_and_normalised_targets_unstick_the_countdown() -> None:
    """Scaled targets and balanced gradients unstick the countdown within the failing budget.

    Whether 140 steps also take it past its per-position prior is a coin toss decided by the
    platform's float rounding, so this test does not assert the verdict: on an AMD EPYC
    (2026-12-03) the countdown was at 1.12x its prior, 95% CI [0.98, 1.33]x, MAE 3.37 bars
    (not learned); on an Intel Xeon (2026-12-04) at 0.84x, CI [0.74, 0.99]x, MAE 2.68 bars
    (learned), against the prior's 2.85 bars. Both platforms agree on what the fix does: the
    countdown's MAE is a fraction of the legacy run's, whose raw-bar head stays stuck near the
    one-number constant, and its loss falls well below where it started.
    """
    config = TrainConfig(
        **{**FAILING_RUN, "balancer": "trunknorm", "countdown_units": "normalized"}
    )
    result = Trainer(config).fit()
    countdown = result.task_summary()["countdown"]
    fixed = countdown["metrics"]["mae_bars"]
    legacy = failing_run().task_summary()["countdown"]["metrics"]["mae_bars"]
    assert fixed < 0.5 * legacy, (fixed, legacy)
    assert countdown["final"] < 0.5 * countdown["initial"], describe(result)


def test_a_head_that_learned_only_the_prior_did_not_learn() -> None:
    """A binary head that predicts the per-bar base rate: its loss falls, its span F1 stays 0.

    Windows of K=10 bars hold a 1-bar expansion on bar 3, 4 or 5 (a third each). The head
    outputs the log-odds of the training rate of each bar position (1/3 on bars 3-5, ~0
    elsewhere): a pure prior. Its BCE is 0.3 * H(1/3) = 0.191 nats against the constant's
    H(0.1) = 0.325 (0.59x) and the untrained ln 2 = 0.693, so the loss-only rule says
    "learned"; but no bar ever reaches p > 0.5, so span F1 is 0 against the all-in-span
    constant's 2*0.1/1.1 = 0.182 and the per-position prior's 0.5 (predicting bars 3-5 in
    span: tp = n, fp = 2n, fn = 0), and the verdict must say "did not learn".
    """
    k, n = 10, 30
    tasks = make_tasks()
    start = torch.tensor([3, 4, 5] * (n // 3))
    targets = tasks.build_targets(torch.zeros(n, dtype=torch.long), start, start, k)
    rate = targets["binary"].mean(dim=0).clamp(1e-6, 1 - 1e-6)  # per position, train = eval
    prior_logits = (rate / (1 - rate)).log().expand(n, k)
    untrained = tasks["binary"].loss(torch.zeros(n, k), targets["binary"]).item()
    final = tasks["binary"].loss(prior_logits, targets["binary"]).item()
    baseline = tasks["binary"].constant_loss(targets["binary"], targets["binary"])
    assert untrained == pytest.approx(math.log(2), rel=1e-6)
    assert final == pytest.approx(0.3 * -(math.log(1 / 3) / 3 + 2 / 3 * math.log(2 / 3)), rel=1e-4)
    assert baseline == pytest.approx(-(0.1 * math.log(0.1) + 0.9 * math.log(0.9)), rel=1e-6)

    outputs = {  # the other heads' outputs only fill the dictionary
        "logits": torch.zeros(n, 3),
        "pointers": torch.full((n, 2), 0.5),
        "expansion_binary_logits": prior_logits,
        "expansion_countdown": torch.zeros(n, k),
    }
    priors = fit_priors(tasks, targets)
    metrics = task_metrics(outputs, targets, tasks, targets, window=k, priors=priors)
    assert metrics["binary"]["f1"] == 0.0
    assert metrics["binary"]["all_in_span_f1"] == pytest.approx(2 * 0.1 / 1.1)
    assert metrics["binary"]["baseline_f1"] == pytest.approx(0.5)

    assert loss_learned(untrained, final, baseline)  # the old, loss-only rule: "learned"
    result = verdict(
        "binary", initial=untrained, final=final, prior=baseline, metrics=metrics["binary"]
    )
    assert not result.learned, result.why
    assert "but span F1 0.000 <= prior 0.500" in result.why


@pytest.mark.slow
def test_main_job_defaults_beat_every_constant_loss() -> None:
    """``moola train`` with no arguments: every head beats its constant predictor on validation."""
    result = Trainer(TrainConfig(out_dir=None, progress=False)).fit()
    assert heads_that_did_not_learn(result) == [], describe(result)
