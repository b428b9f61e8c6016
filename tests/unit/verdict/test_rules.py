"""The signal verdict (loss and metric vs the constant predictor) and train-only constants."""

from __future__ import annotations

import math

import numpy as np
import pytest

from moola.data import OHLCWindows, SyntheticConfig, generate_synthetic
from moola.train import Trainer
from moola.verdict import loss_learned, verdict
from tests.helpers.configs import tiny_config
from tests.helpers.losses import huber

GOOD_LOSS = dict(initial=1.0, final=0.5, prior=0.8)  # 0.625x the constant, below the start


@pytest.mark.parametrize(
    ("task", "good", "bad"),
    [
        (
            "type",
            {"accuracy": 0.7, "baseline_accuracy": 0.6},
            {"accuracy": 0.6, "baseline_accuracy": 0.6},
        ),
        (
            "pointers",
            {"mae_bars": 5.0, "baseline_mae_bars": 9.0},
            {"mae_bars": 9.5, "baseline_mae_bars": 9.0},
        ),
        ("binary", {"f1": 0.4, "baseline_f1": 0.2}, {"f1": 0.0, "baseline_f1": 0.138}),
        (
            "countdown",
            {"mae_bars": 3.0, "baseline_mae_bars": 9.0},
            {"mae_bars": 9.0, "baseline_mae_bars": 9.0},
        ),
    ],
)
def test_metric_must_beat_the_constant(
    task: str, good: dict[str, float], bad: dict[str, float]
) -> None:
    assert verdict(task, metrics=good, **GOOD_LOSS).learned
    result = verdict(task, metrics=bad, **GOOD_LOSS)
    assert not result.learned
    assert result.why.startswith("loss 0.62x prior but ")  # the loss part passed, the metric failed


def test_why_names_the_failing_part_like_the_issue() -> None:
    result = verdict(
        "binary",
        initial=1.0,
        final=0.95,
        prior=1.0,
        metrics={"f1": 0.0, "baseline_f1": 0.138},
    )
    # The issue's binary head: loss 0.95x prior, span F1 0 - loss-only said "learned".
    assert loss_learned(1.0, 0.95, 1.0)
    assert not result.learned
    assert "but span F1 0.000 <= prior 0.138" in result.why


def test_loss_failures_are_named() -> None:
    ok_metric = {"accuracy": 0.9, "baseline_accuracy": 0.5}
    above = verdict("type", initial=2.0, final=0.97, prior=1.0, metrics=ok_metric)
    assert not above.learned and "loss 0.97x prior (needs <= 0.95x)" in above.why
    rising = verdict("type", initial=0.5, final=0.6, prior=1.0, metrics=ok_metric)
    assert not rising.learned and rising.why.startswith("loss 0.60x prior, not below its initial")


def test_nan_metric_is_not_learned() -> None:
    nan = {"f1": math.nan, "baseline_f1": 0.1}
    assert not verdict("binary", metrics=nan, **GOOD_LOSS).learned


# ---------------------------------------------------------------- constants fitted on train only

K = 105
N = 10  # non-overlapping windows in series order; val_fraction 0.2 -> the last 2 are validation


def shifted_windows() -> OHLCWindows:
    """Train and validation targets that differ, so a constant fitted anywhere else is caught.

    train (windows 0-7): labels 0,0,0,0,1,1,2,2; span 10..19 in every window.
    val   (windows 8-9): labels 1,1;             span 30..49 in every window.
    """
    ohlc = generate_synthetic(SyntheticConfig(n_windows=N, window=K, seed=0)).ohlc
    label = np.array([0, 0, 0, 0, 1, 1, 2, 2, 1, 1])
    start = np.array([10] * 8 + [30] * 2)
    end = np.array([19] * 8 + [49] * 2)
    return OHLCWindows(ohlc, label, start, end, start_bar=np.arange(N) * K)


def test_baselines_and_metric_constants_come_from_the_training_split() -> None:
    config = tiny_config(steps=1, batch_size=4)  # on the windows given below
    trainer = Trainer(config, windows=shifted_windows())
    assert trainer.data.x_train.shape[0] == 8 and trainer.data.x_val.shape[0] == 2
    # The one-number constants (Task.constant_loss), kept for comparison.
    constants = trainer.tasks.constant_losses(trainer.data.y_train, trainer.data.y_val)

    # type: the train prior is (0.5, 0.25, 0.25); validation is all class 1.
    assert trainer.data.prior_losses["type"] == pytest.approx(-math.log(0.25), rel=1e-9)
    assert constants["type"] == pytest.approx(-math.log(0.25), rel=1e-9)

    # binary, one number: train in-span rate 10/105; validation has 20 of 105 bars in span.
    r, y = 10 / K, 20 / K
    assert constants["binary"] == pytest.approx(
        -(y * math.log(r) + (1 - y) * math.log(1 - r)), rel=1e-6
    )
    # binary, the per-position prior (Jeffreys-smoothed over 8 train windows): bars 10-19 were
    # in span in all 8 -> p = 8.5/9 = 17/18; every other bar in none -> p = 1/18. On
    # validation (span 30..49) bars 10-19 are out (-log(1/18)), bars 30-49 in (-log(1/18)),
    # the 75 others out (-log(17/18)).
    expected = (30 * math.log(18) + 75 * math.log(18 / 17)) / K
    assert trainer.data.prior_losses["binary"] == pytest.approx(expected, rel=1e-9)

    # pointers: every train window has center 14.5/K and length 9/K, so that is the constant
    # (per column, as before); validation has center 39.5/K and length 19/K (Huber delta 0.08).
    expected = (huber(25 / K, 0.08) + huber(10 / K, 0.08)) / 2
    assert trainer.data.prior_losses["pointers"] == pytest.approx(expected, rel=1e-5)
    assert constants["pointers"] == pytest.approx(expected, rel=1e-5)

    # countdown, one number (bars, Huber delta 1): train targets clip(10 - t, +-20) are 10..1
    # (10 bars), 0, -1..-19 (19 bars) and -20 (75 bars). The best constant c in (-20, -19)
    # zeroes the derivative: the 75 targets -20 give c + 20 each, the target -19 gives c + 19,
    # the 29 targets >= -18 give -1 each: 75(c + 20) + (c + 19) - 29 = 0, so c = -1490 / 76.
    c = -1490 / 76
    train_targets = [max(-20, min(20, 10 - t)) for t in range(K)]
    val_targets = [max(-20, min(20, 30 - t)) for t in range(K)]
    expected = sum(huber(c - v, 1.0) for v in val_targets) / K
    assert constants["countdown"] == pytest.approx(expected, rel=1e-5)
    # countdown, per position: every train window has the same target at bar t, so the prior
    # predicts clip(10 - t) there; validation's target is clip(30 - t).
    expected = sum(huber(a - v, 1.0) for a, v in zip(train_targets, val_targets)) / K
    assert trainer.data.prior_losses["countdown"] == pytest.approx(expected, rel=1e-5)

    metrics = trainer.evaluate().metrics
    # majority class of train is 0; no validation window is class 0
    assert metrics["type"]["baseline_accuracy"] == 0.0
    # pointers median (train): |25| and |10| bars off
    assert metrics["pointers"]["baseline_mae_bars"] == pytest.approx((25 + 10) / 2, rel=1e-5)
    # countdown, one number: the median of the train targets is -20 (75 of 105 bars per window)
    expected_mae = sum(abs(-20 - v) for v in val_targets) / K
    assert metrics["countdown"]["constant_mae_bars"] == pytest.approx(expected_mae, rel=1e-5)
    # countdown, per position: the median at bar t is clip(10 - t)
    expected_mae = sum(abs(a - v) for a, v in zip(train_targets, val_targets)) / K
    assert metrics["countdown"]["baseline_mae_bars"] == pytest.approx(expected_mae, rel=1e-5)
    # binary: the all-in-span constant on validation: F1 = 2*20 / (2*20 + 85)
    assert metrics["binary"]["all_in_span_f1"] == pytest.approx(40 / 125, rel=1e-6)
    # the prior's positions: bars 10-19 give train F1 1; on validation they hold no span bar
    assert metrics["binary"]["baseline_f1"] == 0.0


# ---------------------------------------------------------------- issue 29: decisive digits


def test_a_ratio_just_above_the_margin_prints_the_digit_that_fails_it() -> None:
    """0.953 printed as "0.95x (needs <= 0.95x)": a failure that read as a pass."""
    result = verdict("type", initial=2.0, final=0.953, prior=1.0, metrics={})
    assert "loss 0.953x prior (needs <= 0.95x)" in result.why
    assert not result.learned


def test_interval_bounds_and_metrics_print_apart_from_what_they_are_held_to() -> None:
    metrics = {
        "accuracy": 0.66671,
        "baseline_accuracy": 0.66664,
        "paired_low": 0.01,
        "ratio_low": 0.8,
        "ratio_high": 0.9996,
    }
    why = verdict("type", initial=2.0, final=0.5, prior=1.0, metrics=metrics).why
    assert "95% CI [0.80, 0.9996]x" in why  # below 1x, though "1.00" to two decimals
    assert "accuracy 0.6667 > prior 0.6666" in why  # four decimals tell them apart


def test_decisive_keeps_two_decimals_when_they_tell_the_values_apart() -> None:
    from moola.verdict.rules import decisive

    assert decisive(0.8, 0.95) == "0.80"
    assert decisive(0.9500004, 0.95) == "0.9500004"  # past six decimals: ten digits
    assert decisive(0.95, 0.95) == "0.95"
    assert decisive(float("inf"), 0.95) == "inf"


# ---------------------------------------------------------------- the rule at its boundaries

OK_ACCURACY = {"accuracy": 0.9, "baseline_accuracy": 0.5}


def test_the_loss_must_be_strictly_below_its_initial_and_at_most_the_margin() -> None:
    assert not loss_learned(initial=0.5, final=0.5, prior=1.0)  # not below its initial
    assert loss_learned(initial=1.0, final=0.95, prior=1.0)  # exactly 0.95x the prior
    same = verdict("type", initial=0.5, final=0.5, prior=1.0, metrics=OK_ACCURACY)
    assert not same.learned and ", not below its initial 0.5 " in same.why
    edge = verdict("type", initial=1.0, final=0.95, prior=1.0, metrics=OK_ACCURACY)
    assert edge.learned and edge.why == "loss 0.95x prior and accuracy 0.900 > prior 0.500"
    # the margin scales the prior (1.5 <= 0.95 x 2), it does not divide it
    scaled = verdict("type", initial=3.0, final=1.5, prior=2.0, metrics=OK_ACCURACY)
    assert scaled.learned and scaled.why.startswith("loss 0.75x prior and ")


def test_a_prior_of_zero_loss_cannot_be_beaten() -> None:
    result = verdict("type", initial=1.0, final=0.1, prior=0.0, metrics=OK_ACCURACY)
    assert not result.learned and result.why.startswith("loss infx prior (needs <= 0.95x)")


def test_the_interval_must_exclude_zero_and_says_which_side_it_is_on() -> None:
    base = {**OK_ACCURACY, "ratio_high": 1.2}
    zero = verdict("type", metrics={**base, "paired_low": 0.0, "ratio_low": 0.99}, **GOOD_LOSS)
    assert not zero.learned and zero.why == (
        "loss 0.62x prior, 95% CI [0.99, 1.20]x (reaches 1x) but accuracy 0.900 > prior 0.500"
    )
    # a lower bound of 1x or more: the whole interval is at or above the prior
    for low, text in ((1.0, "1.00"), (1.5, "1.50")):
        metrics = {**base, "paired_low": -0.1, "ratio_low": low, "ratio_high": 2.0}
        why = verdict("type", metrics=metrics, **GOOD_LOSS).why
        assert f", 95% CI [{text}, 2.00]x (all >= 1x) but " in why, why
    # the bounds are printed apart from 1x, the value they are held to
    near = {**base, "paired_low": 0.01, "ratio_low": 0.996, "ratio_high": 0.999}
    assert "95% CI [0.996, 0.999]x and accuracy" in verdict("type", metrics=near, **GOOD_LOSS).why


def test_without_a_metric_the_loss_alone_decides() -> None:
    only_value = verdict("type", metrics={"accuracy": 0.9}, **GOOD_LOSS)  # no prior's value
    assert only_value.learned is True and only_value.why == "loss 0.62x prior; no metric to check"
    failed = verdict("type", initial=1.0, final=0.9, prior=0.8, metrics={})
    assert failed.learned is False and failed.why.endswith("; no metric to check")


@pytest.mark.parametrize(
    ("metrics", "learned", "text"),
    [
        ({"mae_bars": 3.0, "baseline_mae_bars": 9.0}, True, "and MAE 3.00 bars < prior 9.00"),
        (
            {"mae_bars": 9.0, "baseline_mae_bars": 3.0},
            False,
            "but MAE 9.00 bars >= prior 3.00",
        ),
        # equal to six decimals: the seventh (ten significant digits) tells them apart
        ({"mae_bars": 2.9999999, "baseline_mae_bars": 3.0}, True, "MAE 2.9999999 bars < prior 3"),
        # apart at the sixth decimal: six decimals, not ten digits
        (
            {"mae_bars": 2.9999991, "baseline_mae_bars": 3.0},
            True,
            "MAE 2.999999 bars < prior 3.000000",
        ),
    ],
)
def test_a_lower_is_better_metric_prints_two_decimals_and_its_own_comparison(
    metrics: dict[str, float], learned: bool, text: str
) -> None:
    result = verdict("pointers", metrics=metrics, **GOOD_LOSS)
    assert result.learned is learned and result.why.endswith(text), result.why


def test_both_parts_failing_are_joined_with_and() -> None:
    result = verdict(
        "type",
        initial=1.0,
        final=0.9,
        prior=0.8,
        metrics={"accuracy": 0.1, "baseline_accuracy": 0.5},
    )
    assert result.why == "loss 1.12x prior (needs <= 0.95x) and accuracy 0.100 <= prior 0.500"


def test_digits_apart_from_two_decimals_up_to_six() -> None:
    from moola.verdict.rules import MOST_DIGITS, digits_apart

    assert digits_apart(0.96, 0.95) == 2  # the default starts at two decimals
    assert digits_apart(0.951, 0.95) == 3
    assert digits_apart(0.950001, 0.95) == 6 == MOST_DIGITS
    assert digits_apart(0.95000001, 0.95) == MOST_DIGITS + 1  # not even six decimals do
    assert digits_apart(0.5, 0.5) == 2 and digits_apart(0.5, 0.5, 4) == 4  # equal values
    assert digits_apart(math.nan, 0.5) == 2


def test_decisive_starts_from_the_digits_asked_and_prints_ten_digits_past_six() -> None:
    from moola.verdict.rules import decisive

    assert decisive(0.7, 0.95, digits=1) == "0.7"
    assert decisive(0.9500012, 0.95) == "0.950001"  # apart at six decimals: printed with six
    assert decisive(0.95000012, 0.95) == "0.95000012"
