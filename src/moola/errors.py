"""Exceptions that moola raises for bad input.

Every check that rejects user input raises one of these, so callers (and the
CLI) can tell "you gave me something wrong" apart from a bug in moola.
"""

from __future__ import annotations


class MoolaError(Exception):
    """Base class of every error moola raises on purpose."""


class InputValidationError(MoolaError, ValueError):
    """A tensor or array handed to moola has the wrong shape, dtype or values."""


class DataValidationError(MoolaError, ValueError):
    """A dataset (parquet, CSV, arrays) breaks the window schema; the message names the row."""


class ConfigError(MoolaError, ValueError):
    """A configuration value is unknown or out of range (e.g. an unknown balancer name)."""


class TrainingDivergedError(MoolaError, RuntimeError):
    """Training produced a non-finite loss or gradient; the message names task, step and remedy."""


class FeatureMismatchError(MoolaError, ValueError):
    """A model and its inputs disagree on the feature columns (names, order or count)."""
