"""What a run learns (one loop, several objectives): the seam and JadeCompact's objective."""

from moola.train.objectives.base import Objective, Part, RunData
from moola.train.objectives.supervised import SupervisedObjective, load_data

__all__ = ["Objective", "Part", "RunData", "SupervisedObjective", "load_data"]
