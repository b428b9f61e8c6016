"""Four validation and three training windows of 5 bars, small enough to count by hand: the
verdict's metrics and priors are checked against numbers worked out in the tests' comments."""

from __future__ import annotations

import torch

from moola.tasks import make_tasks

K = 5  # bars per window
POINTER_SCALE = 2.0  # pointers in training units are twice their window fractions
TASKS = make_tasks(pointer_scale=POINTER_SCALE)  # countdown: 1/20 (±20 bars -> ±1)
CD_SCALE = 1.0 / 20.0

# Validation: four windows.
VAL_TYPE = [0, 0, 0, 1]
VAL_POINTERS = [[0.2, 0.4], [0.4, 0.2], [0.6, 0.4], [0.8, 0.2]]  # window fractions
VAL_INSIDE = [[0, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 0]]
VAL_COUNTDOWN = [[1, 0, -1, -2, -3], [1, 0, -1, -2, -3], [2, 1, 0, -1, -2], [5, 4, 3, 2, 1]]
# Training: three windows.
TRAIN_TYPE = [1, 1, 0]
TRAIN_POINTERS = [[0.2, 0.2], [0.4, 0.2], [0.4, 0.6]]
TRAIN_INSIDE = [[0, 1, 1, 0, 0], [0, 1, 1, 0, 0], [0, 1, 1, 1, 0]]
TRAIN_COUNTDOWN = [[1, 0, -1, -2, -3], [2, 1, 0, -1, -2], [3, 2, 1, 0, -1]]


def targets(types: list, pointers: list, inside: list, countdown: list) -> dict[str, torch.Tensor]:
    """Targets in training units, as ``TaskSet.build_targets`` gives them."""
    return {
        "type": torch.tensor(types),
        "pointers": torch.tensor(pointers, dtype=torch.float32) * POINTER_SCALE,
        "binary": torch.tensor(inside, dtype=torch.float32),
        "countdown": torch.tensor(countdown, dtype=torch.float32) * CD_SCALE,
    }


VAL = targets(VAL_TYPE, VAL_POINTERS, VAL_INSIDE, VAL_COUNTDOWN)
TRAIN = targets(TRAIN_TYPE, TRAIN_POINTERS, TRAIN_INSIDE, TRAIN_COUNTDOWN)

# The head's raw outputs.
TYPE_LOGITS = [[2.0, 0.0, 0.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 3.0, 1.0]]  # 0, 0, 1, 1
POINTERS_OUT = [[0.3, 0.4], [0.4, 0.4], [0.6, 0.4], [0.8, 0.4]]  # natural: sigmoid outputs
BINARY_LOGITS = [
    [-1.0, 2.0, -1.0, -3.0, -1.0],  # predicted in span: bar 1
    [1.0, 3.0, 1.0, 2.0, -2.0],  # bars 0-3
    [-1.0, -1.0, 0.0, -1.0, -1.0],  # none (a logit of 0 is probability 0.5: not above it)
    [-3.0, -1.0, -1.0, -1.0, 1.0],  # bar 4
]
COUNTDOWN_BARS = [[1.5, 0, -1, -2, -3], [1, 0, -1, -2, -4], [2, 3, 0, -1, -2], [5, 4, 3, 2, 1]]
OUTPUTS = {
    "logits": torch.tensor(TYPE_LOGITS),
    "pointers": torch.tensor(POINTERS_OUT),
    "expansion_binary_logits": torch.tensor(BINARY_LOGITS),
    "expansion_countdown": torch.tensor(COUNTDOWN_BARS) * CD_SCALE,
}
