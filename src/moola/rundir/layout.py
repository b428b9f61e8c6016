"""The names of a run folder's files, in one place: what a run writes and what readers look for."""

from __future__ import annotations

#: The run's record, written last: its presence means the run finished.
METRICS_NAME = "metrics.json"
#: The loss curves and the gradient-share panel (needs matplotlib).
PLOT_NAME = "loss_curves.png"
#: Walk-forward folds: each fold's verdicts and the pooled one (``--folds K``).
FOLDS_NAME = "folds.json"
#: The resumable state: weights, optimizer, balancer, RNG, history (format 2).
CHECKPOINT_NAME = "checkpoint.pt"
#: The validation-best weights only (``moola predict`` and ``moola export`` read them).
BEST_NAME = "best.pt"
#: A pretraining run's export: the trunk and the trained heads, weights only, with their
#: recipe (``moola train --init`` starts from it).
PRETRAINED_NAME = "pretrained.pt"
#: The ``kind`` tag inside it, which tells it from a run's checkpoint and best weights.
PRETRAINED_KIND = "moola-pretrained"
#: The advisory lock a run holds on its folder while it writes there.
LOCK_NAME = ".moola.lock"
#: What ``moola predict`` judges with: the run's priors, initial weights and seen bars.
JUDGING_NAME = "judging.pt"
