"""The plugin on a model that is not JadeCompact: an MLP with a classification and a
regression head. Imports nothing from moola but :mod:`moola.testing`."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from moola.testing import (
    BalanceError,
    assert_balanced,
    assert_learns,
    assert_no_task_starved,
    gradient_shares,
)

# -p no:moola: the installed entry point (when present) steps aside, so this works with it or not.
PLUGIN = ("-p", "no:moola", "-p", "moola.testing.plugin", "-p", "no:cacheprovider")


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh())
        self.classify = nn.Linear(16, 3)
        self.regress = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return h, self.classify(h), self.regress(h).squeeze(-1)


def losses_of(model: TwoHeads, scale_regression: float = 1.0) -> tuple[dict, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    label = torch.randint(0, 3, (64,), generator=g)
    value = x[:, 0] * 2.0
    h, logits, pred = model(x)
    losses = {
        "classification": nn.functional.cross_entropy(logits, label),
        "regression": scale_regression * nn.functional.mse_loss(pred, value),
    }
    return losses, h


@pytest.fixture
def model() -> TwoHeads:
    torch.manual_seed(0)
    return TwoHeads()


def test_gradient_shares_match_one_backward_per_task(model) -> None:
    losses, _ = losses_of(model)
    g = gradient_shares(model, losses, "trunk", retain_graph=True)
    params = list(model.trunk.parameters())
    brute = []
    for loss in losses.values():  # brute force: zero the grads, backward, read them
        model.zero_grad(set_to_none=True)
        loss.backward(retain_graph=True)
        brute.append(torch.cat([p.grad.reshape(-1) for p in params]))
    norms = torch.stack([b.norm() for b in brute])
    torch.testing.assert_close(g.norms, norms, rtol=1e-5, atol=0)
    torch.testing.assert_close(g.shares, norms / norms.sum(), rtol=1e-5, atol=0)
    cos = (brute[0] @ brute[1]) / (norms[0] * norms[1])
    torch.testing.assert_close(g.cosine[0, 1], cos, rtol=1e-4, atol=1e-6)
    assert g.worst_cosine.tolist() == pytest.approx([float(cos)] * 2, rel=1e-4)


def test_measuring_writes_no_grad(model) -> None:
    losses, h = losses_of(model)
    gradient_shares(model, losses, h)
    assert all(p.grad is None for p in model.parameters())


def test_balanced_model_passes(model) -> None:
    losses, h = losses_of(model)
    g = assert_balanced(model, losses, "trunk", max_spread=10.0)
    assert g.spread < 10.0
    losses, h = losses_of(model)
    assert_no_task_starved(model, losses, h, min_share=0.05)  # on the shared representation


def test_planted_imbalance_fails_naming_the_task(model) -> None:
    losses, _ = losses_of(model, scale_regression=1e-3)
    with pytest.raises(BalanceError, match=r"task 'regression' has share 0\.00") as info:
        assert_balanced(model, losses, list(model.trunk.parameters()), max_spread=10.0)
    assert "max_spread 10x" in str(info.value)
    losses, h = losses_of(model, scale_regression=1e-3)
    with pytest.raises(BalanceError, match=r"task 'regression' has share .* below min_share 0\.05"):
        assert_no_task_starved(model, losses, h, min_share=0.05)


def test_bad_shared_argument_is_named(model) -> None:
    losses, _ = losses_of(model)
    with pytest.raises(ValueError, match="no submodule 'trunkk'"):
        gradient_shares(model, losses, "trunkk")


def test_assert_learns_uses_loss_and_metric() -> None:
    why = assert_learns(
        "classification", initial=1.1, final=0.5, baseline=1.0, metric=0.8, baseline_metric=0.4
    )
    assert "loss 0.50x prior" in why
    with pytest.raises(AssertionError, match=r"task 'classification' did not learn: .*accuracy"):
        # the loss fell below the constant's, the metric did not beat it: only the prior learned
        assert_learns(
            "classification",
            initial=1.1,
            final=0.5,
            baseline=1.0,
            metric=0.4,
            baseline_metric=0.4,
            metric_name="accuracy",
        )
    with pytest.raises(AssertionError, match=r"task 'regression' did not learn: loss 0\.98x"):
        assert_learns("regression", initial=2.0, final=0.98, baseline=1.0)


def test_fixtures_seed_and_fix_threads(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import random
        import torch

        def test_seeded(seeded):
            assert torch.get_num_threads() == 1
            a = (random.random(), torch.rand(1).item(), torch.rand(1, generator=seeded).item())
            assert a[1] == a[2]  # the global stream and the fixture's start at the same seed
            random.seed(0); torch.manual_seed(0)
            assert a[:2] == (random.random(), torch.rand(1).item())
        """
    )
    pytester.runpytest_inprocess(*PLUGIN).assert_outcomes(passed=1)


def test_the_entry_point_names_the_plugin() -> None:
    """pytest finds the plugin through this entry point once moola is installed (checked by
    hand with a wheel: a fresh venv runs the README example with no ``-p``)."""
    import importlib
    import re
    from pathlib import Path

    pyproject = (Path(__file__).resolve().parents[3] / "pyproject.toml").read_text()
    entry = re.search(
        r'\[project\.entry-points\.pytest11\][^\[]*?^moola = "([\w.]+)"', pyproject, re.M | re.S
    )
    assert entry is not None, "no pytest11 entry point 'moola' in pyproject.toml"
    plugin = importlib.import_module(entry.group(1))
    assert {"seeded", "fixed_threads", "moola_seed"} <= set(vars(plugin))
