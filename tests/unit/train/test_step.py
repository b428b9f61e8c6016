"""The fast path (each head on its own leaf, one backward for all representation gradients)
must give exactly the gradients of the plain path (heads on the shared trunk output)."""

from __future__ import annotations

import copy

import pytest
import torch

from moola.balancing import BALANCERS, make_balancer
from moola.balancing.base import StepContext
from moola.models import JadeCompact, JadeConfig
from moola.seeding import seed_everything
from moola.tasks import make_tasks
from moola.train.step import EagerStep

SPLIT = sorted(name for name, cls in BALANCERS.items() if cls.uses_task_inputs)


def batch(tasks, window: int = 12, size: int = 5):  # type: ignore[no-untyped-def]
    gen = seed_everything(3)
    x = torch.randn(size, window, 7, generator=gen, dtype=torch.float64)
    label = torch.randint(0, 3, (size,), generator=gen)
    start = torch.randint(1, 5, (size,), generator=gen)
    end = start + torch.randint(0, 5, (size,), generator=gen)
    targets = tasks.build_targets(label, start, end, window)
    return x, {k: v.double() if v.is_floating_point() else v for k, v in targets.items()}


def test_split_path_is_used_by_the_measuring_balancers() -> None:
    assert {"trunknorm", "pcgrad", "gradnorm"} <= set(SPLIT)


def test_decode_tasks_with_shared_input_equals_decode() -> None:
    model = JadeCompact(JadeConfig(n_features=7, hidden_size=6, projection_dim=5)).double().eval()
    h = model.encode(torch.randn(2, 9, 7, dtype=torch.float64))
    plain, split = (
        model.decode(h),
        model.decode_tasks(dict.fromkeys(("type", "pointers", "binary", "countdown"), h)),
    )
    for key in plain:
        torch.testing.assert_close(split[key], plain[key], rtol=0, atol=0)


@pytest.mark.parametrize("name", SPLIT)
@pytest.mark.parametrize("step", [0, 1])  # trunknorm: a refresh step, then an in-between step
def test_split_and_plain_paths_give_identical_gradients(name: str, step: int) -> None:
    tasks = make_tasks()
    x, targets = batch(tasks)
    seed_everything(0)
    base = JadeCompact(
        JadeConfig(n_features=7, hidden_size=6, projection_dim=5, input_dropout=0, dense_dropout=0)
    ).double()
    results = []
    for split in (False, True):
        model = copy.deepcopy(base)
        balancer = make_balancer(name, tasks)
        runner = EagerStep(
            model, tasks, balancer, torch.optim.SGD(model.parameters(), lr=0.0), grad_clip=None
        )
        weights = None
        for s in range(step + 1):
            model.zero_grad(set_to_none=True)
            if split:
                losses, ctx = runner.forward_losses(x, targets, split=True)
            else:
                h = model.encode(x)
                losses, ctx = tasks.losses(model.decode(h), targets), StepContext(model, h)
            ctx.step = s
            weights = balancer.backward(losses, ctx)
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((weights, grads))
    (w_plain, g_plain), (w_split, g_split) = results
    torch.testing.assert_close(w_split, w_plain, rtol=1e-10, atol=0)
    assert g_split.keys() == g_plain.keys()
    for key in g_plain:
        torch.testing.assert_close(g_split[key], g_plain[key], rtol=1e-9, atol=1e-15, msg=key)


def test_a_frozen_trunk_keeps_its_weights_while_the_balancer_measures_it_as_usual() -> None:
    """--freeze-trunk-steps: for N steps only the heads move (AdamW starts no trunk moments);
    trunknorm's weights are measured on the trunk's real gradients, so on the first step they
    equal an unfrozen step's, and stay finite; after N steps the trunk trains."""
    from moola.train import Trainer
    from tests.helpers.configs import tiny_config

    frozen = Trainer(tiny_config(steps=3, freeze_trunk_steps=3, log_every=1))
    free = Trainer(tiny_config(steps=1, log_every=1))
    start = {k: v.clone() for k, v in frozen.model.state_dict().items()}
    trunk = {name for name, _ in frozen.model.lstm.named_parameters()}
    frozen.fit()
    free.fit()
    state = frozen.model.state_dict()
    for name in trunk:
        assert torch.equal(state[f"lstm.{name}"], start[f"lstm.{name}"]), name
        assert not frozen.optimizer.state[getattr(frozen.model.lstm, name)]
    assert not torch.equal(state["type_head.1.weight"], start["type_head.1.weight"])
    weights = torch.tensor(frozen.history.weights["type"])
    assert torch.isfinite(weights).all() and (weights > 0).all()
    for name in frozen.tasks.names:
        assert frozen.history.weights[name][0] == free.history.weights[name][0], name
    frozen.config = tiny_config(steps=4, freeze_trunk_steps=3, log_every=1)  # one step more
    frozen.fit()
    assert not torch.equal(frozen.model.lstm.weight_ih_l0, start["lstm.weight_ih_l0"])


def test_freezing_or_torchrun_with_cuda_graphs_and_unbalanced_torchrun_are_refused() -> None:
    from moola.collective import Collective
    from moola.errors import ConfigError
    from moola.train.setup import build_step
    from tests.helpers.configs import tiny_config

    class TwoRanks(Collective):
        world = 2

    tasks = make_tasks()
    model = JadeCompact(JadeConfig(n_features=7, hidden_size=6, projection_dim=5))
    cpu = torch.device("cpu")
    cases = [
        (tiny_config(steps=1, graph=True, freeze_trunk_steps=3), Collective(), "--graph"),
        (tiny_config(steps=1, graph=True), TwoRanks(), "torchrun"),
        (tiny_config(steps=1, balancer="pcgrad"), TwoRanks(), "'pcgrad' balancer does not run"),
    ]
    for config, collective, needle in cases:
        balancer = make_balancer(config.balancer, tasks)
        with pytest.raises(ConfigError, match=needle):
            build_step(config, model, tasks, balancer, cpu, collective)
