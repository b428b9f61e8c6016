"""Suite-wide settings: CI runs hypothesis derandomized, so the gate is deterministic.

Locally, hypothesis explores new examples on every run (and remembers failures in
.hypothesis/); set CI=1 to reproduce the gate's exact examples.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
