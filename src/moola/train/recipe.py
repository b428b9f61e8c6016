"""``moola.train(config)``: the Python API's one-call training recipe; ``import moola`` exposes it lazily.

``moola.train`` is also the training package (``moola.train.TrainConfig`` ...). Python sets
a package as an attribute of its parent on import, which would hide a function of the same
name, so the package itself is made callable: ``moola.train(config)`` runs this ``train``.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moola.data import OHLCWindows
    from moola.data.corpus import Corpus
    from moola.train import TrainConfig, TrainResult
    from moola.train.folds import FoldsResult


def train(
    config: TrainConfig | Mapping[str, Any] | None = None,
    *,
    windows: OHLCWindows | Corpus | None = None,
    **overrides: Any,
) -> TrainResult | FoldsResult:
    """Train a run as ``moola train`` does (:func:`moola.train.run.run_training`) and return
    its result: a :class:`~moola.train.TrainResult` for one split, a
    :class:`~moola.train.folds.FoldsResult` with ``folds=K``; both give ``.verdict`` per head
    and ``.learned``.

    ``config``: a ``TrainConfig`` or a dict of its fields (``overrides`` on top). With an
    ``out_dir`` the run folder is written as by ``moola train`` (claimed first, so a busy or
    bad folder fails before training); ``out_dir=None`` writes nothing.
    """
    from moola.train import TrainConfig
    from moola.train.run import run_training

    if config is None:
        values: dict[str, Any] = {"progress": False}
    elif isinstance(config, TrainConfig):
        values = config.to_dict()
    else:
        values = {"progress": False, **dict(config)}
    outcome = run_training(TrainConfig.from_dict({**values, **overrides}), windows=windows)
    if outcome.folds is not None:
        return outcome.folds
    assert outcome.result is not None
    return outcome.result


class _CallableTrain(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> TrainResult | FoldsResult:
        return train(*args, **kwargs)


def make_callable(module_name: str) -> None:
    """Make the ``moola.train`` package callable as :func:`train`."""
    sys.modules[module_name].__class__ = _CallableTrain
