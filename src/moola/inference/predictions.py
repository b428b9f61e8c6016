"""What the model says about each window, as numpy arrays in natural units (bars, probabilities).

The raw forward pass speaks in training units: class logits, pointers as sigmoid fractions
of the window, a per-bar logit and a countdown scaled by the run's ``target_scale``. This
module turns them into what a user reads, once, in one place.

Time. Bar indices are positions in the window (0 = its first bar, ``window - 1`` its last);
``start_bar`` places a window in the series it was cut from. The labelling rule
(:mod:`moola.data.labeling`) needs the expansion to end at least ``aftermath`` (20) bars
before the window's end, so the span a window predicts lies in its past: the newest window
says what happened up to 20 bars ago, not what will happen next.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from moola.data.windows import LABEL_NAMES


@dataclass(frozen=True, eq=False)
class Predictions:
    """Per-window predictions for N windows of ``window`` bars.

    ``type_prob`` (N, C): class probabilities in the order of ``label_names``.
    ``pointer_center`` / ``pointer_length`` (N,): the pointer head in bars: the span's centre
    as a bar index, and ``end - start`` in bars. ``span_start`` / ``span_end`` (N,): the bars
    they imply (rounded, clipped to the window, inclusive).
    ``span_prob`` (N, K): per-bar probability of lying in the expansion; ``span`` (N, K):
    the decoded span (``span_prob > 0.5``).
    ``countdown`` (N, K): per bar, the bars until the expansion starts (negative: since it
    started), in [-20, 20] where trained.
    ``start_bar`` (N,) or None: each window's first bar in its series.
    """

    type_prob: np.ndarray
    pointer_center: np.ndarray
    pointer_length: np.ndarray
    span_start: np.ndarray
    span_end: np.ndarray
    span_prob: np.ndarray
    span: np.ndarray
    countdown: np.ndarray
    window: int
    label_names: tuple[str, ...] = LABEL_NAMES
    start_bar: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.type_prob.shape[0])

    @property
    def type_label(self) -> np.ndarray:
        """(N,) the most probable class id."""
        return self.type_prob.argmax(axis=1)

    @property
    def type_name(self) -> list[str]:
        """The most probable class name of each window."""
        return [self.label_names[i] for i in self.type_label]


def pointer_bars(
    pointers: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(N, 2) pointer fractions -> centre and length in bars, and the implied start/end bars.

    Training targets are ``centre = (start + end) / 2 / K`` and ``length = (end - start) / K``
    (moola.tasks.PointerTask), so ``start = centre - length / 2`` and ``end = centre + length / 2``.
    """
    center = pointers[:, 0].astype(np.float64) * window
    length = pointers[:, 1].astype(np.float64) * window
    start = np.clip(np.rint(center - length / 2), 0, window - 1).astype(np.int64)
    end = np.clip(np.rint(center + length / 2), 0, window - 1).astype(np.int64)
    return center, length, start, np.maximum(start, end)


def from_outputs(
    outputs: dict[str, torch.Tensor],
    *,
    window: int,
    countdown_scale: float,
    start_bar: np.ndarray | None = None,
) -> Predictions:
    """Model outputs (eval mode, any batch) -> :class:`Predictions` in natural units."""
    type_prob = torch.softmax(outputs["logits"].double(), dim=1).numpy()
    center, length, start, end = pointer_bars(outputs["pointers"].double().numpy(), window)
    span_prob = outputs["expansion_binary"].double().numpy()
    countdown = outputs["expansion_countdown"].double().numpy() / countdown_scale
    return Predictions(
        type_prob=type_prob,
        pointer_center=center,
        pointer_length=length,
        span_start=start,
        span_end=end,
        span_prob=span_prob,
        span=span_prob > 0.5,
        countdown=countdown,
        window=window,
        start_bar=None if start_bar is None else np.asarray(start_bar, dtype=np.int64),
    )
