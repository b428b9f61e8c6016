"""Model definitions."""

from moola.models.jade_core import JadeCompact, JadeConfig

__all__ = ["JadeCompact", "JadeConfig"]
