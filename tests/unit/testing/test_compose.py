"""Checks that compose (issue 30): measure once and assert several things, or assert twice on
the same losses, and misuse that is named instead of torch's raw message."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from moola.errors import MoolaError
from moola.testing import (
    BalanceError,
    CheckUsageError,
    assert_balanced,
    assert_no_task_starved,
    gradient_shares,
)

# -p no:moola: the installed entry point (when present) steps aside, so this works with it or not.
PLUGIN = ("-p", "no:moola", "-p", "moola.testing.plugin", "-p", "no:cacheprovider")
TORCH_SECOND_BACKWARD = "Trying to backward through the graph a second time"


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 12), nn.Tanh())
        self.classify, self.regress = nn.Linear(12, 3), nn.Linear(12, 1)

    def losses(self, scale: float = 1.0) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(32, 6, generator=g)
        h = self.trunk(x)
        label = torch.randint(0, 3, (32,), generator=g)
        losses = {
            "classification": nn.functional.cross_entropy(self.classify(h), label),
            "regression": scale * nn.functional.mse_loss(self.regress(h).squeeze(-1), x[:, 0]),
        }
        return losses, h


@pytest.fixture
def model() -> TwoHeads:
    torch.manual_seed(0)
    return TwoHeads()


def test_measure_once_then_every_assert(model: TwoHeads) -> None:
    losses, _ = model.losses()
    g = gradient_shares(model, losses, "trunk")
    assert assert_balanced(g, max_spread=20.0) is g
    assert assert_no_task_starved(g, min_share=0.05) is g
    # ... and the measurement did not consume the graph: the old signature still works
    again = assert_balanced(model, losses, "trunk", max_spread=20.0)
    torch.testing.assert_close(again.norms, g.norms)


def test_assert_then_assert_on_the_same_losses(model: TwoHeads) -> None:
    losses, h = model.losses()
    first = assert_balanced(model, losses, "trunk", max_spread=20.0)
    second = assert_no_task_starved(model, losses, "trunk", min_share=0.05)
    torch.testing.assert_close(first.norms, second.norms)
    assert_no_task_starved(model, losses, h, min_share=0.05)  # and on the shared tensor


def test_a_backward_after_the_checks_still_works(model: TwoHeads) -> None:
    losses, _ = model.losses()
    assert_balanced(model, losses, "trunk", max_spread=20.0)
    sum(losses.values()).backward()  # the training step a test may take next
    assert all(p.grad is not None for p in model.trunk.parameters())


def test_measuring_writes_no_grad(model: TwoHeads) -> None:
    losses, h = model.losses()
    gradient_shares(model, losses, h)
    assert_balanced(model, losses, "trunk", max_spread=20.0)
    assert all(p.grad is None for p in model.parameters())


def test_a_freed_graph_is_named(model: TwoHeads) -> None:
    losses, _ = model.losses()
    gradient_shares(model, losses, "trunk", retain_graph=False)  # frees it, on request
    with pytest.raises(CheckUsageError, match=r"^the graph of these losses was already freed"):
        assert_balanced(model, losses, "trunk", max_spread=20.0)
    losses, _ = model.losses()
    sum(losses.values()).backward()
    with pytest.raises(CheckUsageError, match="compute the losses again, or measure once"):
        gradient_shares(model, losses, "trunk")


def test_other_runtime_errors_pass_through(
    model: TwoHeads, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the freed graph is renamed; any other failure of autograd stays what it is."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("something else")

    losses, _ = model.losses()
    monkeypatch.setattr(torch.autograd, "grad", broken)
    with pytest.raises(RuntimeError, match=r"^something else$"):
        gradient_shares(model, losses, "trunk")


# ---------------------------------------------------------------- misuse


def misuse_cases(model: TwoHeads) -> list[tuple[str, object, object, str]]:
    """(what, losses, shared, start of the message)."""
    losses, h = model.losses()
    _, stale = model.losses()  # the trunk output of another forward pass
    with torch.no_grad():
        no_grad, _ = model.losses()
    return [
        ("no losses", {}, "trunk", "the checks need at least one task's loss, got none"),
        ("not a mapping", list(losses.values()), "trunk", "losses must be a mapping"),
        ("not a tensor", {"a": 1.0}, "trunk", "the loss of task 'a' must be a torch.Tensor"),
        (
            "not a scalar",
            {"a": torch.ones(3, requires_grad=True) * 2},
            "trunk",
            "the loss of task 'a' must be a scalar, got shape (3,)",
        ),
        (
            "computed under no_grad",
            no_grad,
            "trunk",
            "the loss of task 'classification' has no graph",
        ),
        (
            "detached",
            {**losses, "regression": losses["regression"].detach()},
            "trunk",
            "the loss of task 'regression' has no graph",
        ),
        ("stale shared tensor", losses, stale, "the losses of tasks 'classification', 're"),
        (
            "one task misses the shared part",
            {"head": model.classify.weight.sum(), **losses},
            "trunk",
            "the loss of task 'head' does not reach the shared tensors",
        ),
        ("unknown submodule", losses, "trunkk", "the model has no submodule 'trunkk'"),
        ("nothing shared", losses, [], "no shared tensors to measure gradients on"),
        ("not tensors", losses, ["trunk"], "shared must be a submodule (or its name)"),
        (
            "frozen shared",
            losses,
            [torch.zeros(3)],
            "every shared tensor must require grad",
        ),
        ("shared tensor found", losses, h, ""),  # the control: no error
    ]


def test_every_misuse_is_a_named_error(model: TwoHeads) -> None:
    for what, losses, shared, message in misuse_cases(model):
        if not message:
            gradient_shares(model, losses, shared)  # type: ignore[arg-type]
            continue
        checks: list[tuple[Any, dict[str, float]]] = [
            (gradient_shares, {}),
            (assert_balanced, {"max_spread": 10.0}),
            (assert_no_task_starved, {"min_share": 0.1}),
        ]
        for check, bound in checks:
            with pytest.raises(CheckUsageError) as info:
                check(model, losses, shared, **bound)
            assert str(info.value).startswith(message), (what, str(info.value))
            assert isinstance(info.value, MoolaError) and isinstance(info.value, ValueError)
            assert TORCH_SECOND_BACKWARD not in str(info.value)


def test_a_measurement_and_a_model_together_is_a_usage_error(model: TwoHeads) -> None:
    losses, _ = model.losses()
    g = gradient_shares(model, losses, "trunk")
    with pytest.raises(CheckUsageError, match=r"^assert_balanced: give a GradientShares alone"):
        assert_balanced(g, losses, "trunk", max_spread=10.0)  # type: ignore[call-overload]
    with pytest.raises(CheckUsageError, match=r"^assert_no_task_starved: give a GradientShares"):
        assert_no_task_starved(g, shared="trunk", min_share=0.1)  # type: ignore[call-overload]
    with pytest.raises(
        CheckUsageError, match=r"^assert_balanced\(model, \.\.\.\) needs the losses"
    ):
        assert_balanced(model, losses, max_spread=10.0)  # type: ignore[call-overload]
    with pytest.raises(CheckUsageError, match=r"needs the losses and the shared part too"):
        assert_no_task_starved(model, shared="trunk", min_share=0.1)  # type: ignore[call-overload]
    with pytest.raises(CheckUsageError, match=r"takes a GradientShares .* got dict"):
        assert_balanced(losses, max_spread=10.0)  # type: ignore[call-overload]
    with pytest.raises(CheckUsageError, match=r"^assert_balanced needs max_spread"):
        assert_balanced(g)  # type: ignore[call-overload]
    with pytest.raises(CheckUsageError, match=r"^assert_no_task_starved needs min_share"):
        assert_no_task_starved(g)  # type: ignore[call-overload]


def test_a_starved_head_still_fails_by_name(model: TwoHeads) -> None:
    losses, _ = model.losses(scale=1e-4)
    g = gradient_shares(model, losses, "trunk")
    with pytest.raises(BalanceError, match="task 'regression' has share"):
        assert_balanced(g, max_spread=10.0)
    with pytest.raises(BalanceError, match="starved: task 'regression'"):
        assert_no_task_starved(g, min_share=0.05)


# ---------------------------------------------------------------- as a user writes it

USER_TEST = '''
"""A user's checks of a two-head model: measure once, assert several things."""

import pytest
import torch
from torch import nn

from moola.testing import assert_balanced, assert_no_task_starved, gradient_shares

SCALE = {scale}


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(8, 16), nn.Tanh())
        self.kind, self.size = nn.Linear(16, 3), nn.Linear(16, 1)

    def forward(self, x):
        h = self.trunk(x)
        return h, self.kind(h), self.size(h).squeeze(-1)


@pytest.fixture
def losses_and_model(seeded):
    model = TwoHeads()
    x = torch.randn(128, 8)
    h, logits, size = model(x)
    losses = {{
        "kind": nn.functional.cross_entropy(logits, (x[:, 0] > 0).long()),
        "size": SCALE * nn.functional.mse_loss(size, x[:, 1]),
    }}
    return model, losses, h


def test_measure_once_assert_twice(losses_and_model):
    model, losses, h = losses_and_model
    shares = gradient_shares(model, losses, "trunk")
    assert_balanced(shares, max_spread=10.0)
    assert_no_task_starved(shares, min_share=0.05)
    assert shares.worst_cosine.shape == (2,)


def test_assert_then_assert(losses_and_model):
    model, losses, h = losses_and_model
    assert_balanced(model, losses, "trunk", max_spread=10.0)
    assert_no_task_starved(model, losses, h, min_share=0.05)
    sum(losses.values()).backward()
'''


def test_a_users_test_file_measures_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TEST.format(scale=1.0))
    result = pytester.runpytest_inprocess(*PLUGIN)
    result.assert_outcomes(passed=2)

    pytester.makepyfile(test_user=USER_TEST.format(scale=1e-4))  # the size head starves
    result = pytester.runpytest_inprocess(*PLUGIN)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*BalanceError: task 'size' has share *exceeds max_spread 10x"])
    result.stdout.no_fnmatch_line(f"*{TORCH_SECOND_BACKWARD}*")
