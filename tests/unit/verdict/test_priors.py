"""Prior-only baselines: per output column, fitted on training, never weaker than one constant."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import tests.unit.verdict.hand_case as hand
from moola.tasks import best_constant_huber, make_tasks
from moola.verdict import task_metrics, verdict
from moola.verdict.priors import (
    best_f1_positions,
    fit_label_priors,
    fit_priors,
    huber_minimiser_per_column,
    label_prior_losses,
    prior_losses,
    prior_window_losses,
    window_losses,
)
from tests.helpers.losses import huber

K = 40


def targets_for(n: int, seed: int) -> dict[str, torch.Tensor]:
    """Spans that start early in the window more often than late: a position prior to learn."""
    g = torch.Generator().manual_seed(seed)
    start = (torch.rand(n, generator=g) ** 2 * 25).long()
    end = start + torch.randint(2, 10, (n,), generator=g)
    label = torch.randint(0, 3, (n,), generator=g)
    return make_tasks().build_targets(label, start, end, K)


def test_huber_minimiser_per_column_matches_the_scalar_one() -> None:
    values = np.random.default_rng(0).standard_normal((50, 3)) * [1.0, 5.0, 20.0]
    got = huber_minimiser_per_column(values, 1.0)
    want = [best_constant_huber(values[:, j], 1.0) for j in range(3)]
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_best_f1_positions_picks_the_positions_that_maximise_training_f1() -> None:
    # 4 windows of 5 bars; bar 1 in span in all 4, bar 2 in 3, bar 3 in 1, bars 0 and 4 never.
    inside = torch.tensor(
        [[0, 1, 1, 0, 0], [0, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 1, 0, 0, 0]], dtype=torch.bool
    )
    # top-1 {1}: tp 4, fp 0, fn 4 -> 8/12; top-2 {1, 2}: tp 7, fp 1, fn 1 -> 14/16; top-3: 16/21
    assert best_f1_positions(inside).tolist() == [False, True, True, False, False]


def test_the_countdown_prior_is_per_position_and_beats_the_one_number_constant() -> None:
    tasks = make_tasks()
    train, val = targets_for(300, 0), targets_for(100, 1)
    priors = fit_priors(tasks, train)
    bars = train["countdown"] / tasks["countdown"].target_scale  # type: ignore[attr-defined]
    np.testing.assert_allclose(
        priors["countdown"].metric_prediction.numpy(), np.median(bars.numpy(), axis=0)
    )
    # The per-position minimiser of the Huber loss is never worse on training than one number.
    per_position = prior_losses(tasks, priors, train)
    constant = tasks.constant_losses(train, train)
    for name in ("binary", "countdown"):
        assert per_position[name] < constant[name]
    # and on held-out targets from the same prior it is better too (the point of the prior)
    held_out = prior_losses(tasks, priors, val)
    held_out_constant = tasks.constant_losses(train, val)
    assert held_out["countdown"] < 0.8 * held_out_constant["countdown"]
    # type and pointers keep the class prior and the per-column constant
    for name in ("type", "pointers"):
        assert held_out[name] == pytest.approx(held_out_constant[name], rel=1e-6)


def test_window_losses_average_to_the_task_losses() -> None:
    tasks = make_tasks()
    y = targets_for(64, 2)
    g = torch.Generator().manual_seed(3)
    outputs = {
        "type": torch.randn(64, 3, generator=g),
        "pointers": torch.rand(64, 2, generator=g),
        "binary": torch.randn(64, K, generator=g),
        "countdown": torch.randn(64, K, generator=g),
    }
    per_window = window_losses(tasks, outputs, y)
    keyed = {
        "logits": outputs["type"],
        "pointers": outputs["pointers"],
        "expansion_binary_logits": outputs["binary"],
        "expansion_countdown": outputs["countdown"],
    }
    natural = tasks.to_natural(tasks.losses(keyed, y))
    for name, value in zip(tasks.names, natural.tolist()):
        assert float(per_window[name].mean()) == pytest.approx(value, rel=1e-5)


def test_a_head_that_outputs_the_per_position_prior_did_not_learn() -> None:
    """The per-bar form of the original blind spot: the prior beats one constant, not itself."""
    tasks = make_tasks()
    train, val = targets_for(300, 4), targets_for(100, 5)
    priors = fit_priors(tasks, train)
    scale = tasks["countdown"].target_scale  # type: ignore[attr-defined]
    rate = priors["binary"].loss_prediction
    n = 100
    outputs = {
        "logits": priors["type"].loss_prediction.float().expand(n, 3),
        "pointers": priors["pointers"].loss_prediction.float().expand(n, 2),
        "expansion_binary_logits": (rate / (1 - rate)).log().float().expand(n, K),
        "expansion_countdown": (priors["countdown"].loss_prediction * scale).float().expand(n, K),
    }
    natural = dict(zip(tasks.names, tasks.to_natural(tasks.losses(outputs, val)).tolist()))
    baselines = prior_losses(tasks, priors, val)
    constants = tasks.constant_losses(train, val)
    metrics = task_metrics(outputs, val, tasks, train, window=K, priors=fit_priors(tasks, train))
    for name in tasks.names:
        assert natural[name] == pytest.approx(baselines[name], rel=1e-4)
        result = verdict(
            name,
            initial=10 * natural[name],
            final=natural[name],
            prior=baselines[name],
            metrics=metrics[name],
        )
        assert not result.learned, (name, result.why)
    # Against one constant for all bars, the same countdown looks like signal.
    assert natural["countdown"] < 0.95 * constants["countdown"]
    per_window = prior_window_losses(tasks, priors, val)["countdown"]
    assert per_window.shape == (n,) and math.isfinite(float(per_window.sum()))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_priors_fitted_from_label_counts_are_fit_priors_on_every_windows_targets(
    seed: int,
) -> None:
    """A run on the store fits its priors (and ``judging.pt`` records them) from the counts of
    its distinct labels; they must be the priors fitted on every window's targets, as
    before the store: exactly, but for the Huber minimisers' last bits (weighted sums)."""
    g = np.random.default_rng(seed)
    n = 700
    start = (g.random(n) ** 2 * 25).astype(np.int64)
    labels = np.stack([g.integers(0, 3, n), start, start + g.integers(2, 10, n)], axis=1)
    labels[: n // 2] = labels[0]  # many windows sharing one label: weights well above 1
    tasks = make_tasks()
    t = torch.from_numpy(labels)
    every = fit_priors(tasks, tasks.build_targets(t[:, 0], t[:, 1], t[:, 2], K))
    counted = fit_label_priors(tasks, labels, K)
    assert set(counted) == set(every) == set(tasks.names)
    for name in tasks.names:
        a, b = counted[name], every[name]
        assert torch.equal(a.metric_prediction, b.metric_prediction), name
        if name == "pointers" or name == "countdown":
            torch.testing.assert_close(a.loss_prediction, b.loss_prediction, rtol=1e-12, atol=0)
            assert a.constant is not None and b.constant is not None
            assert torch.equal(a.constant, b.constant), name
        else:
            assert torch.equal(a.loss_prediction, b.loss_prediction), name
    # ... and so are their losses on other windows, chunk by chunk or all at once
    other = labels[::-1].copy()
    o = torch.from_numpy(other)
    at_once = prior_losses(tasks, counted, tasks.build_targets(o[:, 0], o[:, 1], o[:, 2], K))
    chunked = label_prior_losses(tasks, counted, other, K, chunk=64)
    for name in tasks.names:
        assert chunked[name] == pytest.approx(at_once[name], rel=1e-12)


def test_each_priors_loss_by_hand() -> None:
    """The priors of the hand case (hand_case.py), fitted on its 3 training windows, and
    their natural-units loss per validation window, worked out here."""
    priors = fit_priors(hand.TASKS, hand.TRAIN)
    got = {k: v.numpy() for k, v in prior_window_losses(hand.TASKS, priors, hand.VAL).items()}
    # type: training classes 1, 1, 0 -> log-prior (1/3, 2/3, 0); validation 0, 0, 0, 1
    np.testing.assert_allclose(got["type"], [math.log(3)] * 3 + [math.log(1.5)], rtol=1e-9)
    # pointers (Huber δ 0.08): column (0.2, 0.4, 0.4) -> c with 0.08 = 2 (0.4 − c): 0.36;
    # column (0.2, 0.2, 0.6) -> 2 (c − 0.2) = 0.08: 0.24. Both in natural units (fractions).
    truth = np.array(hand.VAL_POINTERS)
    want = huber(np.array([0.36, 0.24]) - truth, 0.08).mean(axis=1)
    np.testing.assert_allclose(got["pointers"], want, rtol=1e-6)
    # binary: in-span counts 0, 3, 3, 1, 0 of 3 -> (count + 0.5) / 4 per bar
    p = (np.array([0, 3, 3, 1, 0]) + 0.5) / 4
    inside = np.array(hand.VAL_INSIDE)
    want = -(inside * np.log(p) + (1 - inside) * np.log(1 - p)).mean(axis=1)
    np.testing.assert_allclose(got["binary"], want, rtol=1e-9)
    # countdown (Huber δ 1 bar): each training column is (a, a + 1, a + 2): the middle one
    want = huber(np.array([2, 1, 0, -1, -2]) - np.array(hand.VAL_COUNTDOWN), 1.0).mean(axis=1)
    np.testing.assert_allclose(got["countdown"], want, rtol=1e-6, atol=1e-12)
    means = prior_losses(hand.TASKS, priors, hand.VAL)
    assert means == pytest.approx({k: float(v.mean()) for k, v in got.items()})


def test_the_heads_losses_are_one_per_window() -> None:
    """window_losses keeps one natural-units loss per window (no mean over all windows)."""
    predictions = {t.name: hand.OUTPUTS[t.output_key] for t in hand.TASKS}
    got = window_losses(hand.TASKS, predictions, hand.VAL)
    for name in hand.TASKS.names:
        assert got[name].shape == (4,), name
    # countdown: off by 0.5 | 1 | 2 | 0 bars (Huber δ 1: 0.125 | 0.5 | 1.5 | 0) over 5 bars
    np.testing.assert_allclose(got["countdown"].numpy(), [0.025, 0.1, 0.3, 0.0], rtol=1e-6)


def test_huber_minimiser_takes_the_scalar_ones_end_of_a_flat_minimum_and_float32() -> None:
    """Two values 10 apart with δ 1: every constant in [1, 9] minimises the loss; the
    per-column minimiser takes the end the one-number constant takes (bisection moves up
    while the mean clipped residual is not above 0), also in float32."""
    values = np.array([[0.0, 3.0], [10.0, 4.0]])
    got = huber_minimiser_per_column(values, 1.0)
    assert got[0] == pytest.approx(best_constant_huber(values[:, 0], 1.0), abs=1e-9)
    assert got[0] == pytest.approx(9.0, abs=1e-9) and got[1] == pytest.approx(3.5)
    wide = np.random.default_rng(1).standard_normal((30, 2)) * 1000 + 0.123456789
    np.testing.assert_array_equal(
        huber_minimiser_per_column(wide.astype(np.float32), 1.0),
        huber_minimiser_per_column(wide.astype(np.float32).astype(np.float64), 1.0),
    )


def test_best_f1_positions_takes_the_fewest_positions_on_a_tie() -> None:
    # counts 1, 0, 2, 1, 2 over 3 windows (6 in span): top-2 {2, 4}: tp 4, fp 2, fn 2 -> 8/12;
    # top-3 adds bar 0: tp 5, fp 4, fn 1 -> 10/15; top-4 adds bar 3: tp 6, fp 6 -> 12/18: a
    # three-way tie at 2/3, and the fewest positions win
    inside = torch.tensor([[1, 0, 1, 1, 0], [0, 0, 1, 0, 1], [0, 0, 0, 0, 1]], dtype=torch.bool)
    assert best_f1_positions(inside).tolist() == [False, False, True, False, True]
