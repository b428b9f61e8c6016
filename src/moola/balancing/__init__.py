"""Loss balancers: one class per method behind :class:`Balancer`, looked up by name.

Importing the package imports no torch: the names (:mod:`moola.balancing.names`) are all the
command line's help needs, and every other name here is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from moola.balancing.names import BALANCER_NAMES, DEFAULT_BALANCER

if TYPE_CHECKING:
    from moola.balancing.base import Balancer, StepContext
    from moola.balancing.famo import FAMOBalancer
    from moola.balancing.gradnorm import GradNormBalancer
    from moola.balancing.legacy import LegacyNormalizerBalancer
    from moola.balancing.pcgrad import PCGradBalancer, project_conflicting
    from moola.balancing.registry import BALANCERS, make_balancer
    from moola.balancing.static import StaticBalancer
    from moola.balancing.trunknorm import TrunkNormBalancer
    from moola.balancing.uncertainty import UncertaintyBalancer

#: Public name -> the module that defines it (imported on first use).
_LAZY: dict[str, str] = {
    "BALANCERS": "moola.balancing.registry",
    "make_balancer": "moola.balancing.registry",
    "Balancer": "moola.balancing.base",
    "StepContext": "moola.balancing.base",
    "FAMOBalancer": "moola.balancing.famo",
    "GradNormBalancer": "moola.balancing.gradnorm",
    "LegacyNormalizerBalancer": "moola.balancing.legacy",
    "PCGradBalancer": "moola.balancing.pcgrad",
    "project_conflicting": "moola.balancing.pcgrad",
    "StaticBalancer": "moola.balancing.static",
    "TrunkNormBalancer": "moola.balancing.trunknorm",
    "UncertaintyBalancer": "moola.balancing.uncertainty",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'moola.balancing' has no attribute {name!r}")


__all__ = [
    "BALANCERS",
    "BALANCER_NAMES",
    "DEFAULT_BALANCER",
    "Balancer",
    "FAMOBalancer",
    "GradNormBalancer",
    "LegacyNormalizerBalancer",
    "PCGradBalancer",
    "StaticBalancer",
    "StepContext",
    "TrunkNormBalancer",
    "UncertaintyBalancer",
    "make_balancer",
    "project_conflicting",
]
