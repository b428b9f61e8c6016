"""The balancer test harness: a tiny model, fixed random batches, and one train step by the
trainer's own :class:`~moola.train.step.EagerStep`, shared by the contract tests and the
tests of each method (``tests/unit/balancing/``)."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from moola.balancing import BALANCERS, make_balancer
from moola.models import JadeCompact
from moola.tasks import TaskSet, make_tasks
from moola.train.step import EagerStep
from moola.train.step import make_optimizer as make_train_optimizer
from tests.helpers.gradients import weighted_grads
from tests.helpers.models import random_batch, tiny_model

TASKS = make_tasks()
#: Gradient entries: zero or comfortably normal floats (products of subnormals underflow).
FINITE = st.floats(-5, 5, allow_subnormal=False).filter(lambda v: v == 0 or abs(v) > 1e-6)
NAMES = sorted(BALANCERS)
N_FEATURES, WINDOW, BATCH = 5, 14, 4


def make_model(seed: int, dtype: torch.dtype = torch.float32) -> JadeCompact:
    """The tiny model every balancer test steps, seeded."""
    return tiny_model(N_FEATURES, seed=seed, dtype=dtype)


def make_batch(seed: int, dtype: torch.dtype = torch.float32, tasks: TaskSet = TASKS):
    """A random batch, fixed by ``seed``."""
    generator = torch.Generator().manual_seed(1000 + seed)
    return random_batch(
        tasks, size=BATCH, window=WINDOW, n_features=N_FEATURES, generator=generator, dtype=dtype
    )


def forward(model, x, targets, tasks=TASKS):
    trunk_out = model.encode(x)
    return tasks.losses(model.decode(trunk_out), targets), trunk_out


def task_params(model: JadeCompact, name: str) -> list[torch.nn.Parameter]:
    params = model.trunk_parameters() + model.head_parameters()
    if name == "uncertainty":
        params += model.log_sigma_parameters()
    return params


def full_step(model, balancer, optimizer, batch, step, tasks=TASKS):
    """One train step, by the trainer's own :class:`EagerStep` (without clipping, so that the
    gradients are exactly the balancer's); returns (weights, grads before the update)."""
    x, targets = batch
    train_step = EagerStep(model, tasks, balancer, optimizer, grad_clip=None)
    grads: dict[str, torch.Tensor | None] = {}

    def capture(*_: object) -> None:
        grads.update(
            {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}
        )

    handle = optimizer.register_step_pre_hook(capture)
    try:
        out = train_step(x, targets, step)
    finally:
        handle.remove()
    return out.weights, grads


def make_optimizer(model, balancer):
    """The trainer's optimizer (AdamW, foreach on the CPU), at a learning rate that moves a
    tiny model visibly in a few steps."""
    return make_train_optimizer(
        list(model.parameters()) + balancer.parameters(),
        lr=1e-2,
        weight_decay=0.01,
        device=torch.device("cpu"),
        graph=False,
    )


def run(name: str, n_steps: int, seed: int = 0, **options):
    model = make_model(seed)
    balancer = make_balancer(name, TASKS, **options)
    optimizer = make_optimizer(model, balancer)
    history = [full_step(model, balancer, optimizer, make_batch(s), s) for s in range(n_steps)]
    return model, balancer, optimizer, history


def trunk_grad(model):
    return torch.cat([p.grad.reshape(-1) for p in model.trunk_parameters()])


def brute_force_weighted_grads(model, batch, weights):
    """∇ Σ wᵢ·Lᵢ on a copy of the model, by plain autograd."""
    return weighted_grads(model, *batch, TASKS, weights)


def last_layer_norms(model, batch):
    losses, _ = forward(model, *batch)
    trunk = model.trunk_parameters()
    out = []
    for i in range(4):
        grads = torch.autograd.grad(losses[i], trunk, retain_graph=True)
        out.append(torch.cat([g.reshape(-1) for g in grads]).norm())
    return torch.stack(out)
