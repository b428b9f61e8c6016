"""The pretraining objectives by name, without torch: ``moola pretrain --help`` lists them."""

from __future__ import annotations

#: ``moola pretrain --objective``: masked reconstruction, the four heads on the rule, or both.
PRETRAIN_OBJECTIVES: tuple[str, ...] = ("masked", "rule", "both")
