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
    from moola.train import TrainConfig, TrainResult


def train(
    config: TrainConfig | Mapping[str, Any] | None = None,
    *,
    windows: OHLCWindows | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train a run and return its :class:`~moola.train.TrainResult` (``.verdict`` per head).

    ``config``: a ``TrainConfig`` or a dict of its fields (``overrides`` on top). With an
    ``out_dir`` the run folder is written as by ``moola train`` (claimed first, so a busy or
    bad folder fails before training); ``out_dir=None`` writes nothing.
    """
    from moola.train import TrainConfig, Trainer
    from moola.train.outdir import claim_out_dir
    from moola.train.run import train_and_write

    if config is None:
        values: dict[str, Any] = {"progress": False}
    elif isinstance(config, TrainConfig):
        values = config.to_dict()
    else:
        values = {"progress": False, **dict(config)}
    config = TrainConfig.from_dict({**values, **overrides})
    trainer = Trainer(config, windows=windows)
    if config.out_dir is None:
        return trainer.fit()
    with claim_out_dir(config.out_dir):
        return train_and_write(trainer).result


class _CallableTrain(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> TrainResult:
        return train(*args, **kwargs)


def make_callable(module_name: str) -> None:
    """Make the ``moola.train`` package callable as :func:`train`."""
    sys.modules[module_name].__class__ = _CallableTrain
