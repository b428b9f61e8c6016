"""moola: the JadeCompact multi-task model, its tasks, balancers, probes and trainer."""

__version__ = "0.1.0"
