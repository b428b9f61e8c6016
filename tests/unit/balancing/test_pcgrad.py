"""PCGrad: conflicting gradients projected, by hand and as properties."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from moola.balancing import StepContext, make_balancer, project_conflicting
from tests.helpers.balancing import (
    FINITE,
    TASKS,
    forward,
    make_batch,
    make_model,
    trunk_grad,
)


def test_project_conflicting_two_tasks_hand_worked():
    g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=torch.float64)
    out = project_conflicting(g, torch.Generator().manual_seed(0))
    # g1 − (g1·g2/|g2|²)·g2 = [1,0] + ½[−1,1] = [½, ½];  g2 − (g1·g2/|g1|²)·g1 = [0, 1]
    torch.testing.assert_close(out, torch.tensor([[0.5, 0.5], [0.0, 1.0]], dtype=torch.float64))
    assert float(out[0] @ g[1]) >= -1e-12
    assert float(out[1] @ g[0]) >= -1e-12


def test_project_conflicting_leaves_non_conflicting_pairs_unchanged():
    # pairwise dots 1, 2 and 1: no conflict anywhere
    g = torch.tensor([[1.0, 0.0, 2.0], [1.0, 1.0, 0.0], [0.0, 1.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(project_conflicting(g), g, rtol=0, atol=0)
    torch.testing.assert_close(project_conflicting(g[:2]), g[:2], rtol=0, atol=0)
    orthogonal = torch.eye(3, dtype=torch.float64) * torch.tensor([[1.0], [2.0], [3.0]])
    torch.testing.assert_close(project_conflicting(orthogonal), orthogonal, rtol=0, atol=0)


@settings(max_examples=25, deadline=None)
@given(
    a=st.lists(FINITE, min_size=6, max_size=6),
    b=st.lists(FINITE, min_size=6, max_size=6),
    seed=st.integers(0, 1000),
)
def test_project_conflicting_two_tasks_properties(a, b, seed):
    g = torch.tensor([a, b], dtype=torch.float64)
    if float(g[0].norm()) < 1e-3 or float(g[1].norm()) < 1e-3:
        return
    out = project_conflicting(g, torch.Generator().manual_seed(seed))
    dot = float(g[0] @ g[1])
    for i, j in ((0, 1), (1, 0)):
        if dot >= 0:
            torch.testing.assert_close(out[i], g[i], rtol=0, atol=0)
        else:
            # non-negative (zero up to rounding) dot with the other task's original gradient
            assert float(out[i] @ g[j]) >= -1e-9 * float(g[i].norm() * g[j].norm())
            assert float(out[i].norm()) <= float(g[i].norm()) + 1e-12


@settings(max_examples=25, deadline=None)
@given(
    first=st.lists(FINITE, min_size=5, max_size=5),
    scales=st.lists(st.floats(0.1, 10), min_size=4, max_size=4),
    seed=st.integers(0, 1000),
)
def test_project_conflicting_many_tasks(first, scales, seed):
    """T = 5 tasks. Rows 1..4 are positive multiples of distinct axes (mutually orthogonal),
    so row 0's projections commute: its conflicting components are removed whatever the
    order, and every negative cosine with another task's original becomes zero."""
    g = torch.zeros(5, 5, dtype=torch.float64)
    g[0] = torch.tensor(first, dtype=torch.float64)
    for k, s in enumerate(scales, start=1):
        g[k, k] = s
    out = project_conflicting(g, torch.Generator().manual_seed(seed))
    expected0 = g[0].clone()
    expected0[1:] = expected0[1:].clamp(min=0.0)
    torch.testing.assert_close(out[0], expected0, rtol=0, atol=1e-12)
    for j in range(1, 5):
        before = float(g[0] @ g[j])
        after = float(out[0] @ g[j])
        if before < 0:
            assert after > before
            assert after >= -1e-12
    # projections onto normal planes never lengthen a gradient
    for i in range(5):
        assert float(out[i].norm()) <= float(g[i].norm()) + 1e-12


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(st.lists(FINITE, min_size=6, max_size=6), min_size=4, max_size=4),
    seed=st.integers(0, 1000),
)
def test_project_conflicting_general_properties(rows, seed):
    """Any T: a task that conflicts with no other is left alone; norms never grow."""
    g = torch.tensor(rows, dtype=torch.float64)
    out = project_conflicting(g, torch.Generator().manual_seed(seed))
    dots = g @ g.T
    for i in range(4):
        assert float(out[i].norm()) <= float(g[i].norm()) * (1 + 1e-12) + 1e-12
        if all(float(dots[i, j]) >= 0 for j in range(4) if j != i):
            torch.testing.assert_close(out[i], g[i], rtol=0, atol=0)


def test_pcgrad_balancer_trunk_grad_is_projected_sum():
    model = make_model(12, torch.float64)
    balancer = make_balancer("pcgrad", TASKS, seed=3)
    generator = torch.Generator().manual_seed(3)  # same stream as the balancer's
    batch = make_batch(0, torch.float64)
    # Independent per-task trunk gradients (priority-weighted), by plain autograd.
    losses, _ = forward(model, *batch)
    trunk = model.trunk_parameters()
    prio = TASKS.priorities().tolist()  # the balancer's float32 priorities
    flat = torch.stack(
        [
            prio[i]
            * torch.cat(
                [g.reshape(-1) for g in torch.autograd.grad(losses[i], trunk, retain_graph=True)]
            )
            for i in range(4)
        ]
    )
    expected = project_conflicting(flat, generator).sum(dim=0)
    model.zero_grad(set_to_none=True)
    losses, trunk_out = forward(model, *batch)
    weights = balancer.backward(losses, StepContext(model, trunk_out, 0))
    torch.testing.assert_close(weights, torch.tensor(prio))
    torch.testing.assert_close(trunk_grad(model), expected, rtol=1e-9, atol=1e-14)
    cos = flat @ flat.T / (flat.norm(dim=1)[:, None] * flat.norm(dim=1)[None, :])
    if bool((cos < 0).any()):  # conflicts existed: PCGrad must differ from the plain sum
        assert not torch.allclose(expected, flat.sum(dim=0))


def test_pcgrad_default_seed_is_zero():
    from moola.balancing.pcgrad import PCGradBalancer

    assert PCGradBalancer(TASKS).generator.initial_seed() == 0
    assert PCGradBalancer(TASKS, seed=7).generator.initial_seed() == 7
