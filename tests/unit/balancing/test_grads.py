"""The per-task gradient helpers the measured balancers share (:mod:`moola.balancing.grads`),
on hand-made graphs: gaps (a task or a parameter that is not reached), gradients added to
ones already there, and when the graph is kept or freed."""

from __future__ import annotations

import pytest
import torch

from moola.balancing import StepContext, make_balancer
from moola.balancing import grads as G
from tests.helpers.balancing import TASKS, forward, make_batch, make_model

SECOND_BACKWARD = "backward through the graph a second time"


def test_flatten_fills_unused_parameters_with_zeros() -> None:
    a, b = torch.zeros(2, 2), torch.zeros(3)
    flat = G.flatten([None, torch.tensor([1.0, 2.0, 3.0])], [a, b])
    assert flat.tolist() == [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0]
    assert [t.shape for t in G.unflatten(flat, [a, b])] == [(2, 2), (3,)]


def test_combine_skips_a_task_that_does_not_touch_a_parameter() -> None:
    g = torch.tensor([1.0, 2.0])
    combined = G.combine([[None, g], [g, None], [3 * g, g]], torch.tensor([2.0, 5.0, 1.0]))
    assert combined[0] is not None and combined[0].tolist() == [8.0, 16.0]  # 5g + 3g
    assert combined[1] is not None and combined[1].tolist() == [3.0, 6.0]  # 2g + g
    assert G.combine([[None], [None]], torch.ones(2)) == [None]


def test_accumulate_adds_to_existing_gradients_and_skips_gaps() -> None:
    p, q, r = (torch.zeros(2, requires_grad=True) for _ in range(3))
    q.grad = torch.tensor([1.0, 1.0])
    G.accumulate([p, q, r], [None, torch.tensor([2.0, 3.0]), torch.tensor([4.0, 5.0])])
    assert p.grad is None
    assert q.grad.tolist() == [3.0, 4.0]  # added, as backward() would
    assert r.grad is not None and r.grad.tolist() == [4.0, 5.0]
    g = torch.tensor([1.0, 1.0], requires_grad=True) * 2
    G.accumulate([r], [g])
    assert not r.grad.requires_grad  # detached: no graph kept in .grad


def test_trunk_grads_allow_unreached_parameters_and_free_the_graph_after_the_last() -> None:
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    unused = torch.zeros(3, requires_grad=True)
    x = torch.tensor([3.0, 4.0])
    trunk_out = w * x
    per_task = G.trunk_grads(trunk_out, [torch.ones(2), torch.tensor([1.0, -1.0])], [w, unused])
    assert per_task[0][0] is not None and per_task[0][0].tolist() == [3.0, 4.0]
    assert per_task[1][0] is not None and per_task[1][0].tolist() == [3.0, -4.0]
    assert per_task[0][1] is None and per_task[1][1] is None
    with pytest.raises(RuntimeError, match=SECOND_BACKWARD):  # freed after the last task
        torch.autograd.grad(trunk_out, [w], torch.ones(2))

    trunk_out = w * x
    G.trunk_grads(trunk_out, [torch.ones(2)], [w], retain_last=True)
    (again,) = torch.autograd.grad(trunk_out, [w], torch.ones(2))  # kept on request
    assert again.tolist() == [3.0, 4.0]


def test_representation_grads_give_zeros_to_a_task_that_misses_the_trunk() -> None:
    model = make_model(0)
    x, _ = make_batch(0)
    trunk_out = model.encode(x)
    head = next(iter(model.head_parameters()))
    losses = torch.stack([trunk_out.sum(), head.sum(), 2 * trunk_out.sum(), head.sum()])
    rep = G.representation_grads(losses, StepContext(model, trunk_out, 0))
    assert [float(g.abs().sum()) > 0 for g in rep] == [True, False, True, False]
    assert all(g.shape == trunk_out.shape for g in rep)
    torch.testing.assert_close(rep[2], 2 * rep[0])


@pytest.mark.parametrize("name", ["trunknorm", "gradnorm", "pcgrad"])
def test_unsplit_heads_fill_every_gradient(name: str) -> None:
    """Heads that read the trunk output directly (no split leaves) get the same gradients."""
    model = make_model(3)
    losses, trunk_out = forward(model, *make_batch(0))
    make_balancer(name, TASKS).backward(losses, StepContext(model, trunk_out, 0))
    for n, p in model.named_parameters():
        if not n.startswith("log_sigma"):
            assert p.grad is not None and bool(torch.isfinite(p.grad).all()), n
