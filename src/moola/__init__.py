"""moola: the JadeCompact multi-task model, its tasks, balancers, probes and trainer.

The Python API (imported on first use, so ``import moola`` stays cheap)::

    run = moola.train({"data": "backtesting:EURUSD", "out_dir": "runs/eurusd"})
    model = moola.load_model("runs/eurusd")          # best weights; weights="final"
    pred = moola.predict(model, bars)                # windows or a (T, 4) series
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_LAZY: dict[str, str] = {
    "load_model": "moola.inference.load",
    "LoadedModel": "moola.inference.load",
    "predict": "moola.inference.core",
    "Predictions": "moola.inference.predictions",
    "TrainConfig": "moola.train.config",
    "TrainResult": "moola.train.loop.result",
    "LABEL_NAMES": "moola.data.windows",
}

__all__ = sorted([*_LAZY, "__version__", "train"])


def __getattr__(name: str) -> Any:
    if name == "train":  # the training package, callable as moola.train.recipe.train
        return importlib.import_module("moola.train")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'moola' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
