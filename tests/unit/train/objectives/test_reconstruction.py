"""The reconstruction task: Huber on the hidden bars only, averaged per window then over
windows, and its prior, each feature's training value per bar position."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from moola.train.objectives.reconstruction import (
    ReconstructionTask,
    fit_reconstruction_prior,
    hide,
    masked_window_losses,
    pack,
    reconstruction_prior_loss,
    unpack,
)


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 9, 4, generator=g)
    mask = torch.zeros(6, 9, dtype=torch.bool)
    mask[0, [1, 2]] = True
    mask[1, 5] = True
    mask[2:, 3:6] = True
    return x, mask


def test_the_loss_is_the_mean_over_windows_of_each_windows_hidden_entries() -> None:
    x, mask = batch()
    target = pack(x, mask)
    assert torch.equal(unpack(target)[0], x) and torch.equal(unpack(target)[1].bool(), mask)
    prediction = x + 2.0 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    # by hand: window 0 has 2 hidden bars x 4 features, window 1 one bar, the rest 3 bars
    per_window = []
    for w in range(6):
        hidden = mask[w]
        errors = F.huber_loss(prediction[w][hidden], x[w][hidden], reduction="none", delta=1.0)
        per_window.append(errors.mean())
    expected = torch.stack(per_window).mean()
    task = ReconstructionTask("reconstruction", 1.0)
    assert torch.allclose(task.loss(prediction, target), expected, rtol=1e-6)
    assert torch.allclose(masked_window_losses(prediction, target), torch.stack(per_window))


def test_predictions_of_visible_bars_do_not_count_and_hidden_bars_read_zero() -> None:
    x, mask = batch()
    target = pack(x, mask)
    task = ReconstructionTask("reconstruction", 1.0)
    perfect = x.clone()
    assert float(task.loss(perfect, target)) == 0.0
    perfect[~mask] += 100.0  # wrong everywhere the model could see the answer
    assert float(task.loss(perfect, target)) == 0.0
    hidden = hide(x, mask)
    assert (hidden[mask] == 0).all() and torch.equal(hidden[~mask], x[~mask])


def test_the_prior_is_per_bar_position_and_feature() -> None:
    """Inputs whose level depends on the bar position: the prior predicts each position's
    value, so its loss is near zero; one constant per feature would not be."""
    rng = np.random.default_rng(0)
    n, k, f = 400, 9, 3
    levels = np.arange(k)[None, :, None] * np.array([1.0, -0.5, 0.0])[None, None, :]
    x = torch.from_numpy((levels + 0.01 * rng.standard_normal((n, k, f))).astype(np.float32))
    prior = fit_reconstruction_prior(x)
    assert prior.loss_prediction.shape == (k, f)
    np.testing.assert_allclose(prior.loss_prediction.numpy(), levels[0], atol=0.01)
    np.testing.assert_allclose(prior.metric_prediction.numpy(), levels[0], atol=0.01)
    mask = torch.zeros(n, k, dtype=torch.bool)
    mask[:, ::2] = True
    assert reconstruction_prior_loss(prior, pack(x, mask)) < 1e-3
