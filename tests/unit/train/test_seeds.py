"""The seed decides initial weights, batches and dropout masks: same seed same run, other seed other run."""

from __future__ import annotations

import torch
from torch import nn

from moola.seeding import set_rng_state
from moola.train import TrainConfig, Trainer
from tests.helpers.configs import tiny_config


def tiny(seed: int, steps: int = 3) -> TrainConfig:
    return tiny_config(seed=seed, steps=steps, log_every=1)


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def dropout_masks(trainer: Trainer, x: torch.Tensor) -> list[torch.Tensor]:
    """The zero pattern of every dropout layer on the first training forward pass."""
    masks: list[torch.Tensor] = []
    hooks = [
        module.register_forward_hook(lambda m, i, out: masks.append(out == 0))
        for module in trainer.model.modules()
        if isinstance(module, nn.Dropout)
    ]
    set_rng_state(trainer.rng)  # what fit() does before its first step
    trainer.model.train()
    trainer.model(x)
    for hook in hooks:
        hook.remove()
    return masks


def test_same_seed_same_initial_weights_batches_and_dropout_masks() -> None:
    a, b = Trainer(tiny(3)), Trainer(tiny(3))
    wa, wb = weights(a), weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    for step in (0, 1, 7, 50):
        assert torch.equal(a.batch_indices(step), b.batch_indices(step))
    x = a.data.x_train[:8]
    masks_a, masks_b = dropout_masks(a, x), dropout_masks(b, x)
    assert len(masks_a) == 5  # input dropout + four head dropouts
    assert all(torch.equal(p, q) for p, q in zip(masks_a, masks_b))
    assert any(bool(m.any()) for m in masks_a)  # dropout really dropped something


def test_different_seeds_give_different_initial_weights_batches_and_masks() -> None:
    a, b = Trainer(tiny(0)), Trainer(tiny(1))
    wa, wb = weights(a), weights(b)
    drawn = [k for k in wa if "weight" in k or "bias" in k]  # log-sigmas are fixed constants
    assert drawn and all(not torch.equal(wa[k], wb[k]) for k in drawn)
    assert not torch.equal(a.batch_indices(0), b.batch_indices(0))
    b.model.load_state_dict(wa)  # same weights and input: only the dropout draws differ
    x = a.data.x_train[:8]
    masks_a, masks_b = dropout_masks(a, x), dropout_masks(b, x)
    assert not torch.equal(masks_a[0], masks_b[0])


def test_different_seeds_give_different_loss_curves_and_same_seed_the_same() -> None:
    curves = [Trainer(tiny(seed, steps=4)).fit().history.losses for seed in (0, 0, 5)]
    assert curves[0] == curves[1]
    for task in curves[0]:
        assert curves[0][task] != curves[2][task], task
