"""pytester runs example files in this process and then unloads every module they imported.

torch imports ``torch._dynamo`` on the first ``torch.manual_seed``; unloaded and imported
again, it registers its operator library twice and fails. Importing it here first keeps it
out of pytester's unloading."""

from __future__ import annotations

import torch._dynamo  # noqa: F401
