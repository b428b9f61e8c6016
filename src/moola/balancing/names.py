"""The balancers' names and the default, without torch: what the command line's help needs.

The registry (:mod:`moola.balancing.registry`) maps each name to its class; a unit test
holds the two to the same names in the same order.
"""

from __future__ import annotations

#: Every balancer's registered name, in the registry's order.
BALANCER_NAMES: tuple[str, ...] = (
    "trunknorm",
    "static",
    "uncertainty",
    "gradnorm",
    "pcgrad",
    "famo",
    "legacy",
)

#: The balancer a run uses unless told otherwise.
DEFAULT_BALANCER = "trunknorm"
