"""Suite-wide settings: CI runs hypothesis derandomized, so the gate is deterministic.

Locally, hypothesis explores new examples on every run (and remembers failures in
.hypothesis/); set CI=1 to reproduce the gate's exact examples.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# pytester: tests of moola.testing run pytest on example files (tests/unit/testing).
pytest_plugins = ["pytester"]

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _wide_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables and progress bars take the terminal's width (``COLUMNS``). pytest-xdist workers
    get ``COLUMNS=80`` from the controller while a serial run has none (160, a pipe's width),
    so tests that read a table see one width either way: 160. A test of narrow output sets
    its own."""
    monkeypatch.setenv("COLUMNS", "160")
