"""The balancer classes by name, and :func:`make_balancer`, which builds one."""

from __future__ import annotations

from typing import Any

import torch

from moola.balancing.base import Balancer
from moola.balancing.famo import FAMOBalancer
from moola.balancing.gradnorm import GradNormBalancer
from moola.balancing.legacy import LegacyNormalizerBalancer
from moola.balancing.pcgrad import PCGradBalancer
from moola.balancing.static import StaticBalancer
from moola.balancing.trunknorm import TrunkNormBalancer
from moola.balancing.uncertainty import UncertaintyBalancer
from moola.errors import ConfigError
from moola.tasks import TaskSet

BALANCERS: dict[str, type[Balancer]] = {
    cls.name: cls
    for cls in (
        TrunkNormBalancer,
        StaticBalancer,
        UncertaintyBalancer,
        GradNormBalancer,
        PCGradBalancer,
        FAMOBalancer,
        LegacyNormalizerBalancer,
    )
}


def make_balancer(
    name: str, tasks: TaskSet, *, device: torch.device | str = "cpu", **options: Any
) -> Balancer:
    """Instantiate the balancer registered as ``name``; unknown names list the valid ones."""
    try:
        cls = BALANCERS[name]
    except KeyError:
        raise ConfigError(
            f"unknown balancer {name!r}; valid balancers are: {', '.join(sorted(BALANCERS))}"
        ) from None
    try:
        return cls(tasks, device=device, **options)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad options for balancer {name!r}: {exc}") from None
