"""Tasks: target builders, losses and scaling identities, constant baselines, task sets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from moola.errors import ConfigError, DataValidationError, InputValidationError
from moola.tasks import (
    DEFAULT_PRIORITIES,
    TASK_NAMES,
    BinarySpanTask,
    CountdownTask,
    PointerTask,
    TaskSet,
    TypeTask,
    best_constant_huber,
    make_tasks,
)
from tests.helpers.losses import huber

SCALES = st.floats(min_value=1e-2, max_value=1e2, allow_nan=False, allow_infinity=False)


def t1(*values: int) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64)


# ---------------------------------------------------------------- target builders


def test_targets_hand_worked_window_10():
    tasks = make_tasks(countdown_units="bars")
    targets = tasks.build_targets(t1(1), t1(3), t1(5), window=10)
    assert targets["type"].tolist() == [1]
    assert targets["type"].dtype == torch.int64
    # center (3+5)/2/10 = 0.4, length (5-3)/10 = 0.2
    torch.testing.assert_close(
        targets["pointers"], torch.tensor([[0.4, 0.2]]), rtol=0, atol=1e-7, check_dtype=False
    )
    assert targets["binary"].tolist() == [[0, 0, 0, 1, 1, 1, 0, 0, 0, 0]]
    assert targets["countdown"].tolist() == [[3, 2, 1, 0, -1, -2, -3, -4, -5, -6]]


def test_normalized_countdown_divides_by_20():
    targets = make_tasks().build_targets(t1(0), t1(3), t1(5), window=10)
    expected = [v / 20 for v in (3, 2, 1, 0, -1, -2, -3, -4, -5, -6)]
    np.testing.assert_allclose(targets["countdown"][0].numpy(), expected, rtol=1e-6)


def test_countdown_clipped_at_plus_minus_20_in_105_window():
    tasks = make_tasks(countdown_units="bars")
    cd = tasks.build_targets(t1(2), t1(50), t1(60), window=105)["countdown"][0]
    assert cd.shape == (105,)
    # start - t = 50 at t=0 -> clipped to 20; 30 - ... by hand:
    assert cd[0].item() == 20  # 50 clipped
    assert cd[29].item() == 20  # 21 clipped
    assert cd[30].item() == 20  # exactly 20
    assert cd[31].item() == 19
    assert cd[49].item() == 1
    assert cd[50].item() == 0
    assert cd[51].item() == -1
    assert cd[70].item() == -20  # exactly -20
    assert cd[71].item() == -20  # -21 clipped
    assert cd[104].item() == -20  # -54 clipped
    assert float(cd.max()) == 20 and float(cd.min()) == -20
    # positive before the expansion, negative after (facts file)
    assert bool((cd[:50] > 0).all()) and bool((cd[51:] < 0).all())


def test_binary_span_is_inclusive_and_vectorised():
    tasks = make_tasks()
    targets = tasks.build_targets(t1(0, 1, 2), t1(0, 2, 7), t1(0, 4, 7), window=8)
    assert targets["binary"].tolist() == [
        [1, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 1, 1, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 1],
    ]
    torch.testing.assert_close(
        targets["pointers"],
        torch.tensor([[0.0, 0.0], [3 / 8, 2 / 8], [7 / 8, 0.0]]),
        check_dtype=False,
    )


def test_pointer_target_scale_multiplies_target():
    task = PointerTask("pointers", 0.7, target_scale=4.0)
    target = task.build_target(t1(0), t1(3), t1(5), 10)
    torch.testing.assert_close(target, torch.tensor([[1.6, 0.8]]), check_dtype=False)


# ---------------------------------------------------------------- losses and scaling


@settings(max_examples=25, deadline=None)
@given(
    scale=SCALES,
    start=st.integers(0, 40),
    seed=st.integers(0, 2**16),
)
def test_countdown_natural_loss_independent_of_target_scale(scale, start, seed):
    window = 45
    task = CountdownTask("countdown", 0.1, target_scale=scale)
    end = min(start + 3, window - 1)
    y = task.natural_target(t1(0, 0), t1(start, 0), t1(end, 4), window).double()
    rng = np.random.default_rng(seed)
    pred_bars = torch.from_numpy(rng.normal(0.0, 12.0, size=(2, window)))
    target = task.build_target(t1(0, 0), t1(start, 0), t1(end, 4), window)
    train_loss = task.loss(pred_bars * scale, target.double())
    natural = float(task.to_natural(train_loss))
    # by hand, in bars with δ = 1
    expected = float(huber(pred_bars.numpy() - y.numpy(), 1.0).mean())
    assert natural == pytest.approx(expected, rel=1e-5, abs=1e-9)
    # identity: huber_{sδ}(s·p, s·y) = s²·huber_δ(p, y)
    assert float(train_loss) == pytest.approx(scale**2 * expected, rel=1e-5, abs=1e-12)
    # natural_prediction undoes the scaling
    torch.testing.assert_close(task.natural_prediction(pred_bars * scale), pred_bars)


@settings(max_examples=25, deadline=None)
@given(scale=SCALES, seed=st.integers(0, 2**16))
def test_pointer_natural_loss_independent_of_target_scale(scale, seed):
    task = PointerTask("pointers", 0.7, target_scale=scale)
    rng = np.random.default_rng(seed)
    start = torch.from_numpy(rng.integers(0, 50, size=5))
    end = start + torch.from_numpy(rng.integers(0, 50, size=5))
    y = task.natural_target(start, start, end, 105).double()
    # head output: a sigmoid, in natural units whatever the scale
    pred = torch.from_numpy(rng.uniform(0.0, 1.0, size=(5, 2)))
    target = task.build_target(start, start, end, 105).double()
    natural = float(task.to_natural(task.loss(pred, target)))
    expected = float(huber(pred.numpy() - y.numpy(), 0.08).mean())
    assert natural == pytest.approx(expected, rel=1e-5, abs=1e-9)


def test_countdown_loss_hand_worked():
    # prediction 2.5 bars vs target 0 (residual 2.5 > δ=1): 1·2.5 − 0.5 = 2.0
    # prediction 0.5 bars vs target 0 (quadratic): 0.125
    for scale in (1.0, 1 / 20, 7.0):
        task = CountdownTask("countdown", 0.1, target_scale=scale)
        pred = torch.tensor([[2.5, 0.5]], dtype=torch.float64) * scale
        loss = task.loss(pred, torch.zeros(1, 2, dtype=torch.float64))
        assert float(task.to_natural(loss)) == pytest.approx((2.0 + 0.125) / 2, rel=1e-12)


def test_default_deltas_and_scales_match_facts():
    tasks = make_tasks()
    assert tasks.names == TASK_NAMES == ("type", "pointers", "binary", "countdown")
    assert tasks["pointers"].delta == 0.08
    assert tasks["countdown"].delta == 1.0
    assert tasks["countdown"].target_scale == pytest.approx(1 / 20)
    assert tasks["pointers"].target_scale == 1.0
    assert make_tasks(countdown_units="bars")["countdown"].target_scale == 1.0
    assert make_tasks(countdown_scale=0.5)["countdown"].target_scale == 0.5
    assert DEFAULT_PRIORITIES == {"type": 0.10, "pointers": 0.70, "binary": 0.10, "countdown": 0.10}
    assert {t.name: t.priority for t in tasks} == DEFAULT_PRIORITIES
    torch.testing.assert_close(tasks.priorities(), torch.tensor([0.1, 0.7, 0.1, 0.1]))


def test_taskset_losses_stacked_in_task_order():
    torch.manual_seed(0)
    tasks = make_tasks()
    n, window = 3, 6
    label, start, end = t1(0, 2, 1), t1(1, 0, 4), t1(3, 0, 5)
    targets = tasks.build_targets(label, start, end, window=window)
    outputs = {
        "logits": torch.randn(n, 3, dtype=torch.float64),
        "pointers": torch.rand(n, 2, dtype=torch.float64),
        "expansion_binary_logits": torch.randn(n, window, dtype=torch.float64),
        "expansion_countdown": torch.randn(n, window, dtype=torch.float64),
    }
    dtargets = {k: v.double() if v.is_floating_point() else v for k, v in targets.items()}
    losses = tasks.losses(outputs, dtargets)
    assert losses.shape == (4,)

    logits = outputs["logits"].numpy()
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    ce = -logp[np.arange(n), label.numpy()].mean()

    ptr_y = np.stack([(start + end).numpy() / 2 / window, (end - start).numpy() / window], 1)
    ptr = huber(outputs["pointers"].numpy() - ptr_y, 0.08).mean()

    z = outputs["expansion_binary_logits"].numpy()
    y = dtargets["binary"].numpy()
    p = 1 / (1 + np.exp(-z))
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()

    t = np.arange(window)
    cd_y = np.clip(start.numpy()[:, None] - t[None, :], -20, 20) / 20.0
    # training units: huber with δ·s = 1/20
    cd = huber(outputs["expansion_countdown"].numpy() - cd_y, 1 / 20).mean()

    np.testing.assert_allclose(losses.detach().numpy(), [ce, ptr, bce, cd], rtol=1e-6)
    natural = tasks.to_natural(losses).detach().numpy()
    np.testing.assert_allclose(natural, [ce, ptr, bce, cd * 400], rtol=1e-6)


# ---------------------------------------------------------------- constant baselines


def test_type_baseline_is_cross_entropy_of_training_prior():
    task = TypeTask("type", 0.1, n_classes=3)
    # prior from [0, 0, 1, 2] = (1/2, 1/4, 1/4); eval [0, 1, 1]:
    # -(ln 1/2 + 2 ln 1/4) / 3 = (ln 2 + 4 ln 2) / 3 = 5 ln 2 / 3
    value = task.constant_loss(t1(0, 0, 1, 2), t1(0, 1, 1))
    assert value == pytest.approx(5 * math.log(2) / 3, rel=1e-9)
    # eval equal to the train set: the entropy of the prior, 1.5 ln 2
    value = task.constant_loss(t1(0, 0, 1, 2), t1(0, 0, 1, 2))
    assert value == pytest.approx(1.5 * math.log(2), rel=1e-9)


def test_binary_baseline_is_bce_at_span_rate():
    task = BinarySpanTask("binary", 0.1)
    train = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])  # rate 3/8
    evaluate = torch.tensor([[1.0, 0.0]])
    expected = -(math.log(3 / 8) + math.log(5 / 8)) / 2
    assert task.constant_loss(train, evaluate) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("scale", [1.0, 1 / 20, 3.0])
def test_countdown_baseline_hand_worked(scale):
    task = CountdownTask("countdown", 0.1, target_scale=scale)
    # train [0, 0, 10] bars, δ=1: derivative mean clip(c − v) = (c + c − 1)/3 = 0 -> c = 0.5
    train = torch.tensor([[0.0, 0.0, 10.0]]) * scale
    # eval [0.5, 2]: residuals 0 and 1.5 -> 0 and 1.5 − 0.5 = 1 -> mean 0.5 (bars, natural)
    evaluate = torch.tensor([[0.5, 2.0]]) * scale
    assert task.constant_loss(train, evaluate) == pytest.approx(0.5, rel=1e-6)


@pytest.mark.parametrize("scale", [1.0, 0.25, 10.0])
def test_pointer_baseline_fits_one_constant_per_column(scale):
    task = PointerTask("pointers", 0.7, target_scale=scale)
    # column 0: [0.1, 0.2, 0.9], δ=0.08 -> 0.08 + (c − 0.2) − 0.08 = 0 -> c = 0.2
    # column 1: [0.3, 0.3, 0.3] -> c = 0.3
    train = torch.tensor([[0.1, 0.3], [0.2, 0.3], [0.9, 0.3]], dtype=torch.float64) * scale
    exact = torch.tensor([[0.2, 0.3]], dtype=torch.float64) * scale
    assert task.constant_loss(train, exact) == pytest.approx(0.0, abs=1e-12)
    # residuals −0.1 each: 0.08·0.1 − 0.5·0.08² = 0.0048
    off = torch.tensor([[0.3, 0.4]], dtype=torch.float64) * scale
    assert task.constant_loss(train, off) == pytest.approx(0.0048, rel=1e-6)


def test_best_constant_huber_hand_worked():
    assert best_constant_huber(np.array([0.0, 0.0, 10.0]), 1.0) == pytest.approx(0.5, abs=1e-9)
    # δ large: the mean; δ tiny: the median
    assert best_constant_huber(np.array([1.0, 2.0, 6.0]), 100.0) == pytest.approx(3.0, abs=1e-9)
    assert best_constant_huber(np.array([1.0, 2.0, 6.0]), 1e-6) == pytest.approx(2.0, abs=1e-5)
    assert best_constant_huber(np.array([4.0, 4.0]), 1.0) == pytest.approx(4.0, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=-30, max_value=30, allow_nan=False), min_size=1, max_size=12
    ),
    delta=st.floats(min_value=0.05, max_value=5.0),
)
def test_best_constant_huber_matches_grid_search(values, delta):
    v = np.asarray(values)
    c = best_constant_huber(v, delta)
    assert v.min() - 1e-9 <= c <= v.max() + 1e-9
    grid = np.linspace(v.min() - 1.0, v.max() + 1.0, 20001)
    objective = huber(grid[:, None] - v[None, :], delta).mean(axis=1)
    best_grid = objective.min()
    mine = huber(c - v, delta).mean()
    # the bisection result is at least as good as any grid point (up to rounding)...
    assert mine <= best_grid + 1e-9
    # ...and the grid is fine enough to come within its step of the optimum
    step = grid[1] - grid[0]
    assert best_grid - mine <= delta * step + 1e-12


# ---------------------------------------------------------------- label validation


@pytest.mark.parametrize(
    ("label", "start", "end", "pattern"),
    [
        (t1(0, 3, 1), t1(1, 1, 1), t1(2, 2, 2), r"row 1: label \(3\) is outside \[0, 3\)"),
        (t1(0, 0, -1), t1(1, 1, 1), t1(2, 2, 2), r"row 2: label \(-1\) is outside"),
        (
            t1(0, 0, 0),
            t1(1, 6, 1),
            t1(2, 4, 2),
            r"row 1: expansion_start \(6\) > expansion_end \(4\)",
        ),
        (t1(0, 0, 0), t1(-1, 1, 1), t1(2, 2, 2), r"row 0: expansion_start \(-1\) is negative"),
        (
            t1(0, 0, 0),
            t1(1, 1, 1),
            t1(2, 2, 10),
            r"row 2: expansion_end \(10\) is past the last bar \(9\) of a 10-bar window",
        ),
    ],
)
def test_bad_labels_rejected_naming_the_row(label, start, end, pattern):
    tasks = make_tasks()
    with pytest.raises(InputValidationError, match=pattern) as info:
        tasks.build_targets(label, start, end, window=10)
    assert isinstance(info.value, DataValidationError)


def test_n_classes_respected_when_validating():
    tasks = make_tasks(n_classes=5)
    tasks.build_targets(t1(4), t1(0), t1(1), window=10, n_classes=5)
    with pytest.raises(InputValidationError, match=r"row 0: label \(4\) is outside \[0, 3\)"):
        tasks.build_targets(t1(4), t1(0), t1(1), window=10)


# ---------------------------------------------------------------- make_tasks and TaskSet


def test_make_tasks_rejects_unknown_countdown_units():
    with pytest.raises(
        ConfigError, match=r"countdown_units must be 'normalized' or 'bars', got 'minutes'"
    ):
        make_tasks(countdown_units="minutes")


@pytest.mark.parametrize(
    ("priorities", "pattern"),
    [
        ({"type": -0.1}, r"task 'type': priority must be finite and > 0, got -0.1"),
        ({"binary": 0.0}, r"task 'binary': priority must be finite and > 0"),
        ({"countdown": float("nan")}, r"task 'countdown': priority must be finite"),
        ({"pointers": float("inf")}, r"task 'pointers': priority must be finite"),
        ({"span": 1.0}, r"unknown task\(s\) \['span'\]"),
        ([1.0, 1.0, 1.0], r"expected 4 priorities in order"),
        ([1.0, 1.0, 1.0, 1.0, 1.0], r"expected 4 priorities in order"),
        ([1.0, -1.0, 1.0, 1.0], r"task 'pointers': priority must be finite and > 0"),
    ],
)
def test_make_tasks_rejects_bad_priorities(priorities, pattern):
    with pytest.raises(ConfigError, match=pattern):
        make_tasks(priorities=priorities)


def test_make_tasks_priorities_by_mapping_and_sequence():
    partial = make_tasks(priorities={"countdown": 0.4})
    assert [t.priority for t in partial] == [0.1, 0.7, 0.1, 0.4]
    ordered = make_tasks(priorities=(1, 2, 3, 4))
    assert [t.priority for t in ordered] == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize(
    "kwargs", [{"countdown_scale": 0.0}, {"countdown_scale": -1.0}, {"pointer_scale": float("inf")}]
)
def test_make_tasks_rejects_bad_scales(kwargs):
    with pytest.raises(ConfigError, match=r"target_scale must be finite and > 0"):
        make_tasks(**kwargs)


def test_regression_task_rejects_bad_delta():
    with pytest.raises(ConfigError, match=r"Huber delta must be > 0"):
        CountdownTask("countdown", 0.1, delta=0.0)


def test_taskset_rejects_duplicates_and_names_a_missing_output():
    """Any objective may name its tasks, so an unknown name is no error by itself; a model
    without that task's output is, named when the losses are taken."""
    with pytest.raises(ConfigError, match="duplicate task names"):
        TaskSet((BinarySpanTask("binary", 0.1), BinarySpanTask("binary", 0.2)))
    with pytest.raises(ConfigError, match="at least one task"):
        TaskSet(())
    span = TaskSet((BinarySpanTask("span", 0.1),))
    assert span["span"].output_key == "span"
    outputs = {"expansion_binary_logits": torch.zeros(2, 5)}
    with pytest.raises(ConfigError, match=r"no output \['span'\] for task\(s\) \['span'\]"):
        span.losses(outputs, {"span": torch.zeros(2, 5)})
    with pytest.raises(ConfigError, match="no task 'span'"):
        make_tasks()["span"]
