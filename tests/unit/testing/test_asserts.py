"""Each check of moola.testing on a model built to pass it and one built to break it, at its
bound. The model is one shared vector ``w`` and task i's loss is ``w · gᵢ``, so task i's
gradient on the shared part is exactly ``gᵢ``: norms, shares, spread and cosines are known
by hand (dyadic numbers, exact in float32), and a check that compares with ``<`` instead of
``<=``, or reads the wrong task, disagrees with them."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from moola.testing import (
    BalanceError,
    CheckUsageError,
    GradientShares,
    assert_balanced,
    assert_learns,
    assert_no_task_starved,
    gradient_shares,
)


class Pulls(nn.Module):
    """``trunk`` holds the shared vector; :meth:`losses` gives task i the loss ``w · gᵢ``."""

    def __init__(self, size: int = 4) -> None:
        super().__init__()
        self.trunk = nn.Linear(1, size, bias=False)
        self.head = nn.Linear(1, 1, bias=False)  # not shared: never measured

    def losses(self, pulls: dict[str, list[float]]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        w = self.trunk(torch.ones(1))
        return {name: (w * torch.tensor(g)).sum() for name, g in pulls.items()}, w


#: norms 3 and 1: spread 3, shares 0.75 and 0.25, orthogonal
LOPSIDED = {"strong": [3.0, 0.0, 0.0, 0.0], "weak": [0.0, 1.0, 0.0, 0.0]}


def test_the_measurement_is_exact() -> None:
    model = Pulls()
    pulls = {"a": [3.0, 0.0, 0.0, 0.0], "b": [0.0, 1.0, 0.0, 0.0], "c": [-1.0, 1.0, 0.0, 0.0]}
    losses, w = model.losses(pulls)
    for shared in ("trunk", model.trunk, list(model.trunk.parameters()), w):
        g = gradient_shares(model, losses, shared)
        assert g.tasks == ("a", "b", "c")
        torch.testing.assert_close(g.norms, torch.tensor([3.0, 1.0, math.sqrt(2)]))
        total = 4 + math.sqrt(2)
        torch.testing.assert_close(g.shares, torch.tensor([3 / total, 1 / total, 2**0.5 / total]))
        assert g.share("b") == pytest.approx(1 / total)
        assert g.spread == pytest.approx(3.0)
        c = 1 / math.sqrt(2)
        expected = torch.tensor([[1.0, 0.0, -c], [0.0, 1.0, c], [-c, c, 1.0]])
        torch.testing.assert_close(g.cosine, expected)
        torch.testing.assert_close(g.worst_cosine, torch.tensor([-c, 0.0, -c]))
        assert g.to_dict()["c"] == pytest.approx(
            {"norm": math.sqrt(2), "share": 2**0.5 / total, "worst_cosine": -c}
        )


def test_assert_balanced_at_its_bound() -> None:
    model = Pulls()
    losses, _ = model.losses(LOPSIDED)
    g = assert_balanced(model, losses, "trunk", max_spread=3.0)  # exactly the spread: passes
    assert isinstance(g, GradientShares) and g.spread == 3.0
    assert assert_balanced(g, max_spread=3.0) is g
    with pytest.raises(BalanceError) as info:
        assert_balanced(g, max_spread=2.99)
    assert str(info.value) == (
        "task 'weak' has share 0.25 of the shared gradient (norm 1) against task 'strong' with "
        "share 0.75 (norm 3): spread 3x exceeds max_spread 2.99x"
    )
    with pytest.raises(BalanceError):  # the old signature fails the same way
        assert_balanced(model, losses, "trunk", 2.99)


def test_assert_balanced_passes_an_even_model_and_fails_a_dead_task() -> None:
    model = Pulls()
    even, _ = model.losses({"a": [1.0, 0.0, 0.0, 0.0], "b": [0.0, 0.0, -1.0, 0.0]})
    assert assert_balanced(model, even, "trunk", max_spread=1.0).spread == 1.0
    dead, _ = model.losses({"a": [1.0, 0.0, 0.0, 0.0], "b": [0.0, 0.0, 0.0, 0.0]})
    with pytest.raises(BalanceError, match=r"task 'b' has share 0 .* spread 1e\+30x"):
        assert_balanced(model, dead, "trunk", max_spread=1e6)


def test_a_nan_spread_fails() -> None:
    g = GradientShares(("a", "b"), torch.tensor([float("nan"), 1.0]), torch.eye(2))
    with pytest.raises(BalanceError, match="exceeds max_spread 10x"):
        assert_balanced(g, max_spread=10.0)


def test_assert_no_task_starved_at_its_bound() -> None:
    model = Pulls()
    losses, w = model.losses(LOPSIDED)
    g = assert_no_task_starved(model, losses, w, min_share=0.25)  # exactly the share: passes
    assert assert_no_task_starved(g, min_share=0.0) is g
    with pytest.raises(BalanceError) as info:
        assert_no_task_starved(g, min_share=0.2501)
    assert str(info.value) == (
        "starved: task 'weak' has share 0.25 of the shared gradient, below min_share 0.2501"
    )


def test_every_starved_task_is_listed() -> None:
    model = Pulls()
    losses, _ = model.losses(
        {"a": [6.0, 0.0, 0.0, 0.0], "b": [0.0, 1.0, 0.0, 0.0], "c": [0.0, 0.0, 1.0, 0.0]}
    )
    with pytest.raises(BalanceError) as info:
        assert_no_task_starved(model, losses, "trunk", min_share=0.2)
    assert str(info.value) == (
        "starved: task 'b' has share 0.125, task 'c' has share 0.125 of the shared gradient, "
        "below min_share 0.2"
    )
    nan = GradientShares(("a", "b"), torch.tensor([float("nan"), 1.0]), torch.eye(2))
    with pytest.raises(BalanceError, match="task 'a' has share nan"):
        assert_no_task_starved(nan, min_share=0.0)


@pytest.mark.parametrize("bound", [0.999, float("nan"), -1.0])
def test_a_spread_below_one_is_a_usage_error(bound: float) -> None:
    g = GradientShares(("a",), torch.tensor([1.0]), torch.eye(1))
    with pytest.raises(CheckUsageError, match=r"^max_spread is a ratio of norms and must be >= 1"):
        assert_balanced(g, max_spread=bound)
    assert assert_balanced(g, max_spread=1) is g


@pytest.mark.parametrize("bound", [1.0, -0.01, float("nan"), 1.5])
def test_a_share_outside_zero_to_one_is_a_usage_error(bound: float) -> None:
    g = GradientShares(("a",), torch.tensor([1.0]), torch.eye(1))
    with pytest.raises(CheckUsageError, match=r"^min_share is a fraction in \[0, 1\), got"):
        assert_no_task_starved(g, min_share=bound)


# ---------------------------------------------------------------- assert_learns


def test_assert_learns_at_the_margin() -> None:
    """The default margin is 5%: a loss at exactly 0.95x the prior's learned, above not."""
    assert assert_learns("t", initial=2.0, final=0.95, baseline=1.0) == (
        "loss 0.95x prior; no metric to check"
    )
    with pytest.raises(AssertionError) as info:
        assert_learns("t", initial=2.0, final=0.9501, baseline=1.0)
    assert str(info.value) == (
        "task 't' did not learn: loss 0.9501x prior (needs <= 0.95x); no metric to check"
    )
    assert_learns("t", initial=2.0, final=0.5, baseline=1.0, margin=0.5)
    with pytest.raises(AssertionError, match=r"needs <= 0\.50x"):
        assert_learns("t", initial=2.0, final=0.51, baseline=1.0, margin=0.5)


def test_assert_learns_needs_a_loss_below_the_initial() -> None:
    with pytest.raises(AssertionError) as info:
        assert_learns("t", initial=0.5, final=0.5, baseline=1.0)
    assert str(info.value) == (
        "task 't' did not learn: loss 0.50x prior, not below its initial 0.5; no metric to check"
    )


def test_assert_learns_metric_direction_and_name() -> None:
    why = assert_learns("t", initial=2.0, final=0.5, baseline=1.0, metric=0.8, baseline_metric=0.4)
    assert why == "loss 0.50x prior and metric 0.800 > prior 0.400"  # higher is better
    with pytest.raises(AssertionError, match=r"but metric 0\.400 <= prior 0\.400$"):
        assert_learns("t", initial=2.0, final=0.5, baseline=1.0, metric=0.4, baseline_metric=0.4)
    why = assert_learns(
        "t",
        initial=2.0,
        final=0.5,
        baseline=1.0,
        metric=3.0,
        baseline_metric=4.0,
        higher_is_better=False,
        metric_name="MAE",
    )
    assert why == "loss 0.50x prior and MAE 3.00 < prior 4.00"
    with pytest.raises(AssertionError, match=r"but MAE 4\.00 >= prior 4\.00$"):
        assert_learns(
            "t",
            initial=2.0,
            final=0.5,
            baseline=1.0,
            metric=4.0,
            baseline_metric=4.0,
            higher_is_better=False,
            metric_name="MAE",
        )


@pytest.mark.parametrize("given", [{"metric": 0.5}, {"baseline_metric": 0.5}])
def test_assert_learns_wants_both_metrics_or_neither(given: dict[str, float]) -> None:
    with pytest.raises(
        CheckUsageError, match=r"^give both metric and baseline_metric, or neither$"
    ):
        assert_learns("t", initial=2.0, final=0.5, baseline=1.0, **given)


def test_assert_learns_reads_numbers_of_any_kind() -> None:
    """Tensors and numpy scalars, as a user's test has them."""
    import numpy as np

    why = assert_learns(
        "t",
        initial=torch.tensor(2.0),
        final=np.float32(0.5),
        baseline=torch.tensor(1.0),
        metric=torch.tensor(0.75),
        baseline_metric=np.float64(0.5),
    )
    assert why == "loss 0.50x prior and metric 0.750 > prior 0.500"
