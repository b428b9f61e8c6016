"""The masked objective's task: reconstruct the hidden bars' inputs, judged against its prior.

The target packs each window's inputs (B, K, F) and its mask (B, K) as one (B, K, F + 1)
tensor (the mask last), so it travels through the loop like any target. The loss is the
Huber loss (δ = 1 input unit) over the hidden bars' features, averaged per window, then
over windows: a window's loss is the mean over its hidden entries, and the batch's loss
the mean of its windows' (so the per-window losses of the verdict's interval average to
it exactly).

The prior is the best prediction that never sees the window: each feature's training
value at each bar position (the Huber minimiser per (position, feature) for the loss, the
median for the MAE), fitted on training windows only. The head learned when its loss and
its MAE on the hidden entries beat the prior's, with the paired interval, like any head.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from moola.models.forward import forward_eval
from moola.models.multitask import MultiTaskModel
from moola.models.pretrain import RECONSTRUCTION
from moola.tasks import Task
from moola.verdict import BlockBootstrap, Evaluation, Prior, paired_interval
from moola.verdict.priors import huber_minimiser_per_column

#: The Huber loss's δ, in input units (the features are ratios of the bar's range and the
#: like, most within [-1, 3]).
DELTA = 1.0


def pack(inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The target: the true inputs (B, K, F) and the mask (B, K) as one (B, K, F + 1)."""
    return torch.cat([inputs, mask.to(inputs.dtype)[..., None]], dim=-1)


def unpack(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs (B, K, F), mask (B, K) as 0/1 floats) of a packed target."""
    return target[..., :-1], target[..., -1]


def hide(inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The inputs with the hidden bars' features set to zero."""
    return inputs * (1.0 - mask.to(inputs.dtype))[..., None]


def masked_window_losses(
    prediction: torch.Tensor, target: torch.Tensor, *, absolute: bool = False
) -> torch.Tensor:
    """(B,) per window: the mean Huber (or absolute) error over its hidden entries."""
    truth, mask = unpack(target)
    residual = prediction - truth
    if absolute:
        errors = residual.abs()
    else:
        errors = F.huber_loss(prediction, truth, reduction="none", delta=DELTA)
    per_bar = errors.mean(dim=-1) * mask  # each hidden bar's mean over its features
    return per_bar.sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)


@dataclass(frozen=True)
class ReconstructionTask(Task):
    """The hidden bars' inputs, from the rest of the window (the masked objective)."""

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return masked_window_losses(prediction, target).mean()

    @property
    def units(self) -> str:
        return f"input units (Huber δ={DELTA:g}, hidden bars only)"


def fit_reconstruction_prior(inputs: torch.Tensor) -> Prior:
    """Per (bar position, feature), fitted on training windows' inputs (N, K, F)."""
    values = inputs.detach().double().cpu().numpy()
    n, k, f = values.shape
    flat = values.reshape(n, k * f)
    huber = huber_minimiser_per_column(flat, DELTA).reshape(k, f)
    median = np.median(flat, axis=0).reshape(k, f)
    return Prior(torch.from_numpy(huber), torch.from_numpy(median))


def prior_prediction(prior: torch.Tensor, n: int) -> torch.Tensor:
    return prior.float()[None].expand(n, -1, -1)


def evaluate_reconstruction(
    model: MultiTaskModel,
    target: torch.Tensor,
    prior: Prior,
    *,
    initial: bool = False,
    bootstrap: BlockBootstrap | None = None,
) -> tuple[float, dict[str, float]]:
    """The head's loss on the validation windows (their inputs hidden by their masks), and
    its MAE beside the prior's, with the paired interval of its loss against the prior's."""
    del initial
    truth, mask = unpack(target)
    outputs = forward_eval(model, hide(truth, mask))
    predicted = outputs[RECONSTRUCTION]
    head = masked_window_losses(predicted, target).double().cpu()
    cpu_target = target.cpu()
    n = len(cpu_target)
    prior_losses = masked_window_losses(prior_prediction(prior.loss_prediction, n), cpu_target)
    metrics = {
        "mae": float(masked_window_losses(predicted, target, absolute=True).mean()),
        "baseline_mae": float(
            masked_window_losses(
                prior_prediction(prior.metric_prediction, n), cpu_target, absolute=True
            ).mean()
        ),
    }
    if bootstrap is not None:
        metrics.update(paired_interval(head.numpy(), prior_losses.double().numpy(), bootstrap))
    return float(head.mean()), metrics


def reconstruction_prior_loss(prior: Prior, target: torch.Tensor) -> float:
    """The prior's loss on packed ``target`` (what the verdict holds the head against)."""
    cpu_target = target.cpu()
    predicted = prior_prediction(prior.loss_prediction, len(cpu_target))
    return float(masked_window_losses(predicted, cpu_target).double().mean())


def merge(first: Evaluation, extra: Mapping[str, tuple[float, dict[str, float]]]) -> Evaluation:
    """``first`` with more heads' losses and metrics."""
    losses = dict(first.losses)
    metrics = {k: dict(v) for k, v in first.metrics.items()}
    for name, (loss, values) in extra.items():
        losses[name] = loss
        metrics[name] = dict(values)
    return Evaluation(losses, metrics)
