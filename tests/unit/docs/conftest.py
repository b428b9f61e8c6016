"""pytester runs the docs' example test files in this process and then unloads every module
they imported; torch imports ``torch._dynamo`` lazily, and imported a second time it fails,
so it is imported here first (as in tests/unit/testing)."""

from __future__ import annotations

import torch._dynamo  # noqa: F401
