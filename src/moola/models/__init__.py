"""Model definitions: JadeCompact, and the interface any multi-task model trains through."""

from moola.models.jade_core import JadeCompact, JadeConfig
from moola.models.multitask import MultiTaskModel

__all__ = ["JadeCompact", "JadeConfig", "MultiTaskModel"]
