"""Each head's metric and its prior's, on windows small enough to count by hand.

The numbers below are worked out in the comments, not read from the code; each case is built
so that a plausible wrong computation (an unweighted mean, a class left out, the threshold on
the wrong side, a scale applied the wrong way) gives another number.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from moola.tasks import CountdownTask, TaskSet, make_tasks
from moola.verdict import BlockBootstrap, evaluate, fit_priors, task_metrics
from moola.verdict.evaluate import Evaluation
from moola.verdict.interval import paired_interval, paired_intervals
from moola.verdict.priors import prior_metrics, prior_window_losses, window_losses
from tests.unit.verdict.hand_case import (
    BINARY_LOGITS,
    CD_SCALE,
    OUTPUTS,
    TASKS,
    TRAIN,
    VAL,
    VAL_INSIDE,
    K,
    targets,
)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def measured() -> dict[str, dict[str, float]]:
    """The hand case's metrics, computed in each test (not a shared fixture: mutation testing
    runs, per mutant, the tests that call the mutated function while they run)."""
    return task_metrics(OUTPUTS, VAL, TASKS, TRAIN, window=K, priors=fit_priors(TASKS, TRAIN))


def test_type_accuracy_balanced_accuracy_and_the_majority_class() -> None:
    metrics = measured()
    got = metrics["type"]
    # predicted 0, 0, 1, 1 against 0, 0, 0, 1: 3 of 4 right
    assert got["accuracy"] == pytest.approx(0.75)
    # recall of class 0 is 2/3, of class 1 is 1/1; class 2 is absent and not counted
    assert got["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    # training's majority class is 1; one validation window of four is class 1
    assert got["baseline_accuracy"] == pytest.approx(0.25)


def test_pointer_mae_is_in_bars_of_the_window() -> None:
    metrics = measured()
    got = metrics["pointers"]
    # |out - truth| = 0.1, 0 | 0, 0.2 | 0, 0 | 0, 0.2 -> 0.5 over 8 columns, x 5 bars
    assert got["mae_bars"] == pytest.approx(0.5 / 8 * K)
    # the prior: per-column medians of training (0.4, 0.2); off by 0.2, 0, 0.2, 0.4 and
    # 0.2, 0, 0.2, 0 -> 1.2 over 8, x 5 bars
    assert got["baseline_mae_bars"] == pytest.approx(1.2 / 8 * K)


def test_span_f1_and_the_probabilities_inside_and_outside() -> None:
    metrics = measured()
    got = metrics["binary"]
    # tp: 1 + 3 + 0 + 0 = 4; fp: 0 + 1 + 0 + 1 = 2; fn: 1 + 0 + 2 + 0 = 3 -> 8 / 13
    assert got["f1"] == pytest.approx(8 / 13)
    # all in span: tp 7, fp 13, fn 0 -> 14 / 27
    assert got["all_in_span_f1"] == pytest.approx(14 / 27)
    # the prior's positions: bars 1 and 2 (training F1 12/13, above the top-1 and top-3);
    # on validation: tp 2 + 2 + 1 + 0 = 5, fp 0 + 0 + 1 + 2 = 3, fn 0 + 1 + 1 + 0 = 2 -> 2/3
    assert got["baseline_f1"] == pytest.approx(2 / 3)
    logits, inside = np.array(BINARY_LOGITS), np.array(VAL_INSIDE, dtype=bool)
    probs = np.vectorize(sigmoid)(logits)
    assert got["in_span_prob"] == pytest.approx(probs[inside].mean())
    assert got["out_span_prob"] == pytest.approx(probs[~inside].mean())


def test_span_probabilities_are_nan_when_a_side_is_empty() -> None:
    tasks = make_tasks()
    val = {"binary": torch.zeros(2, K)}  # no bar in span
    outputs = {"expansion_binary_logits": torch.zeros(2, K)}
    single = type(tasks)((tasks["binary"],))
    got = task_metrics(outputs, val, single, val, window=K, priors=fit_priors(single, val))
    assert math.isnan(got["binary"]["in_span_prob"]) and got["binary"]["out_span_prob"] == 0.5
    val = {"binary": torch.ones(2, K)}  # every bar in span
    got = task_metrics(outputs, val, single, val, window=K, priors=fit_priors(single, val))
    assert got["binary"]["in_span_prob"] == 0.5 and math.isnan(got["binary"]["out_span_prob"])
    assert got["binary"]["f1"] == 0.0  # nothing predicted: no true positive


def test_countdown_mae_in_bars_against_the_per_position_median_and_one_number() -> None:
    metrics = measured()
    got = metrics["countdown"]
    # off by 0.5 | 1 | 2 | 0 bars: 3.5 over 20 bars
    assert got["mae_bars"] == pytest.approx(3.5 / 20)
    # per-position median of training: 2, 1, 0, -1, -2; off by 5 + 5 + 0 + 15 bars
    assert got["baseline_mae_bars"] == pytest.approx(25 / 20)
    # one number: the median of all 15 training values is 0; off by 7 + 7 + 6 + 15
    assert got["constant_mae_bars"] == pytest.approx(35 / 20)


def test_the_one_number_comes_with_priors_that_carry_it_and_is_left_out_otherwise() -> None:
    """fit_priors keeps the one-number constant (35/20 here, as with training targets); a
    run's saved priors (judging.pt) lack it, and then the one number is left out."""
    fitted = fit_priors(TASKS, TRAIN)
    got = task_metrics(OUTPUTS, VAL, TASKS, None, window=K, priors=fitted)
    assert got["countdown"]["constant_mae_bars"] == pytest.approx(35 / 20)
    saved = {name: dataclasses.replace(prior, constant=None) for name, prior in fitted.items()}
    got = task_metrics(OUTPUTS, VAL, TASKS, None, window=K, priors=saved)
    assert "constant_mae_bars" not in got["countdown"]
    assert got["countdown"]["baseline_mae_bars"] == pytest.approx(25 / 20)


def test_only_the_heads_of_the_task_set_are_measured() -> None:
    only = type(TASKS)((TASKS["pointers"],))
    got = task_metrics(OUTPUTS, VAL, only, TRAIN, window=K, priors=fit_priors(only, TRAIN))
    assert list(got) == ["pointers"]


def test_prior_metrics_scale_only_the_pointers_to_bars() -> None:
    """The prior's MAE: pointers (fractions) times the window, countdown (bars) as is; both
    divided by their own target scale first."""
    priors = fit_priors(TASKS, TRAIN)
    got = prior_metrics(TASKS, priors, VAL, window=K)
    assert got["pointers"]["baseline_mae_bars"] == pytest.approx(1.2 / 8 * K)
    assert got["countdown"]["baseline_mae_bars"] == pytest.approx(25 / 20)
    assert got["type"]["baseline_accuracy"] == pytest.approx(0.25)
    assert got["binary"]["baseline_f1"] == pytest.approx(2 / 3)


class Replay(nn.Module):
    """A model that returns fixed outputs: row i of x (its first value) gets row i of each."""

    def __init__(self, outputs: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.outputs = outputs

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        rows = x[:, 0, 0].long()
        return {k: v[rows] for k, v in self.outputs.items()}


def x_rows(n: int) -> torch.Tensor:
    x = torch.zeros(n, K, 3)
    x[:, 0, 0] = torch.arange(n, dtype=torch.float32)
    return x


def test_evaluate_gives_the_natural_losses_the_metrics_and_the_intervals() -> None:
    boot = BlockBootstrap(np.arange(4), seed=3, n_boot=200)
    got = evaluate(Replay(OUTPUTS), x_rows(4), VAL, TASKS, TRAIN, bootstrap=boot)
    per_window = window_losses(TASKS, {t.name: OUTPUTS[t.output_key] for t in TASKS}, VAL)
    for name in TASKS.names:
        # the mean of the per-window natural losses, which do not depend on the scales
        assert got.losses[name] == pytest.approx(float(per_window[name].mean()), rel=1e-5)
    # the window is x's second dimension (5 bars), the metrics are task_metrics'
    assert got.metrics["pointers"]["mae_bars"] == pytest.approx(0.5 / 8 * K)
    assert got.metrics["type"]["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert got.metrics["countdown"]["constant_mae_bars"] == pytest.approx(35 / 20)
    intervals = paired_intervals(OUTPUTS, VAL, TASKS, boot, fit_priors(TASKS, TRAIN))
    for name in TASKS.names:
        assert {k: got.metrics[name][k] for k in intervals[name]} == intervals[name]
    # without a bootstrap: no interval
    plain = evaluate(Replay(OUTPUTS), x_rows(4), VAL, TASKS, TRAIN)
    assert "paired_low" not in plain.metrics["type"] and plain.losses == got.losses


def test_evaluate_uses_the_priors_given_and_needs_them_or_training_targets() -> None:
    other = fit_priors(TASKS, VAL)  # priors fitted elsewhere change the baselines
    got = evaluate(Replay(OUTPUTS), x_rows(4), VAL, TASKS, None, priors=other)
    assert got.metrics["type"]["baseline_accuracy"] == pytest.approx(0.75)  # class 0 now
    # the priors given carry their one number (the validation values' lower median, 0)
    assert got.metrics["countdown"]["constant_mae_bars"] == pytest.approx(35 / 20)
    with pytest.raises(
        ValueError, match=r"^evaluate needs the priors or the training targets to fit them$"
    ):
        evaluate(Replay(OUTPUTS), x_rows(4), VAL, TASKS, None)


def test_an_evaluation_round_trips_through_its_dict() -> None:
    evaluation = Evaluation({"type": 1.5}, {"type": {"accuracy": 0.5}})
    state = evaluation.to_dict()
    assert state == {"losses": {"type": 1.5}, "metrics": {"type": {"accuracy": 0.5}}}
    assert Evaluation.from_dict(state) == evaluation
    assert Evaluation({"type": 1.0}).metrics == {}


def test_every_head_is_resampled_the_same_way_as_alone() -> None:
    """paired_intervals: per head, the interval of its window losses against its prior's,
    the heads on the same resamples (so each equals its own paired_interval)."""
    rng = np.random.default_rng(4)
    n = 30
    val = targets(
        rng.integers(0, 3, n).tolist(),
        rng.random((n, 2)).tolist(),
        (rng.random((n, K)) < 0.4).astype(int).tolist(),
        rng.integers(-20, 21, (n, K)).tolist(),
    )
    outputs = {
        "logits": torch.tensor(rng.normal(size=(n, 3)), dtype=torch.float32),
        "pointers": torch.tensor(rng.random((n, 2)), dtype=torch.float32),
        "expansion_binary_logits": torch.tensor(rng.normal(size=(n, K)), dtype=torch.float32),
        "expansion_countdown": torch.tensor(rng.normal(size=(n, K)), dtype=torch.float32),
    }
    priors = fit_priors(TASKS, TRAIN)
    boot = BlockBootstrap(rng.permutation(n), overlap_run=3, seed=9, n_boot=300)
    got = paired_intervals(outputs, val, TASKS, boot, priors)
    head = window_losses(TASKS, {t.name: outputs[t.output_key] for t in TASKS}, val)
    prior = prior_window_losses(TASKS, priors, val)
    assert list(got) == list(TASKS.names)
    for name in TASKS.names:
        want = paired_interval(head[name].numpy(), prior[name].numpy(), boot)
        assert got[name] == pytest.approx(want, rel=1e-12), name
        # the paired difference is the prior's mean loss minus the head's
        assert want["paired_diff"] == pytest.approx(float(prior[name].mean() - head[name].mean()))


def test_a_head_without_a_metric_still_gets_its_interval() -> None:
    """A task that is none of JadeCompact's four has no metric of its own; with a bootstrap
    its metrics are its interval alone."""
    wave = TaskSet((CountdownTask("wave", 1.0, target_scale=CD_SCALE),))
    outputs = {"wave": OUTPUTS["expansion_countdown"]}
    boot = BlockBootstrap(np.arange(4), seed=3, n_boot=50)
    got = evaluate(
        Replay(outputs),
        x_rows(4),
        {"wave": VAL["countdown"]},
        wave,
        {"wave": TRAIN["countdown"]},
        bootstrap=boot,
    )
    assert set(got.metrics) == {"wave"}
    assert set(got.metrics["wave"]) == {
        "paired_diff",
        "paired_low",
        "paired_high",
        "ratio_low",
        "ratio_high",
        "bootstrap_block",
    }


def test_the_priors_span_f1_counts_every_window() -> None:
    """The prior's positions (bars 1 and 2 of the hand case) against validation spans that
    hold one of them once (tp 1: F1 2 / (2 + 7 + 1) = 0.2), or none (F1 0, not 1)."""
    priors = fit_priors(TASKS, TRAIN)
    once = torch.zeros(4, K)
    once[0, 2] = once[1, 3] = 1.0  # bar 2 of window 0 (tp); bar 3 of window 1 (fn)
    got = prior_metrics(TASKS, priors, {**VAL, "binary": once}, window=K)["binary"]
    # predicted: bars 1, 2 of 4 windows = 8; tp 1, fp 7, fn 1
    assert got["baseline_f1"] == pytest.approx(2 / (2 + 7 + 1))
    never = torch.zeros(4, K)
    never[:, 4] = 1.0
    got = prior_metrics(TASKS, priors, {**VAL, "binary": never}, window=K)["binary"]
    assert got["baseline_f1"] == 0.0


def test_the_one_number_countdown_is_the_median_of_all_training_bars() -> None:
    """Training countdowns shifted by +2 bars: the median of all 15 values is 2, not 0 (at 0 a
    scale applied the wrong way, or the median added instead of subtracted, would not show)."""
    shifted = {**TRAIN, "countdown": TRAIN["countdown"] + 2 * CD_SCALE}
    got = task_metrics(OUTPUTS, VAL, TASKS, shifted, window=K, priors=fit_priors(TASKS, shifted))
    # |2 - v| over validation: 15 + 15 + 10 + 7 bars
    assert got["countdown"]["constant_mae_bars"] == pytest.approx(47 / 20)
    # the per-position median is now 4, 3, 2, 1, 0: off by 15 + 15 + 10 + 5 bars
    assert got["countdown"]["baseline_mae_bars"] == pytest.approx(45 / 20)
