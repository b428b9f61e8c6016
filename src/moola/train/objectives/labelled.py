"""A part of a run's data drawn from a series store: labelled windows by row, never held whole.

The inputs of a batch are one gather from the store (:meth:`moola.data.store.SeriesStore.gather`)
and its targets are built from the windows' labels when the batch is drawn, so a part costs
only each window's first bar and labels (20 bytes a window), whatever the stride.
"""

from __future__ import annotations

import numpy as np
import torch

from moola.data.corpus import Corpus
from moola.data.store import SeriesStore
from moola.tasks import TaskSet
from moola.train.objectives.base import DataPart


class LabelledPart(DataPart):
    """Windows ``rows`` of ``corpus`` (in that order): inputs gathered from its store on the
    store's device, targets of ``tasks`` built from the labels at each draw. The labels were
    checked when the corpus was made, so drawing does not check them again."""

    def __init__(self, corpus: Corpus, rows: np.ndarray, tasks: TaskSet) -> None:
        self.store: SeriesStore = corpus.store
        self.tasks = tasks
        self.window = corpus.window
        device = self.store.device
        self.starts = torch.from_numpy(np.ascontiguousarray(corpus.starts(rows))).to(device)
        self.labels = torch.from_numpy(np.ascontiguousarray(corpus.labels(rows))).to(device)

    def __len__(self) -> int:
        return int(self.starts.shape[0])

    @property
    def device(self) -> torch.device:
        return self.store.device

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        labels = self.labels.index_select(0, idx).long()
        x = self.store.gather(self.starts.index_select(0, idx))
        label, start, end = labels[:, 0], labels[:, 1], labels[:, 2]
        return x, {t.name: t.build_target(label, start, end, self.window) for t in self.tasks}
