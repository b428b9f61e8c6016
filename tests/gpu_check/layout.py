"""Where gpu-check works and which training runs it makes: the names its modules share."""

from __future__ import annotations

from pathlib import Path

#: The repository root: the stages' subprocesses run there.
ROOT = Path(__file__).resolve().parents[2]
#: Where the results go when $OUT is not set, and where the stages write (kept for reruns).
DEFAULT_OUT = ROOT / "gpu-check"
DEFAULT_WORK = DEFAULT_OUT / "work"
#: The ``moola train`` runs, by stage name, and the flags that make each one what it is.
TRAIN_FLAGS: dict[str, list[str]] = {
    "train-eager": [],
    "train-graph": ["--graph"],
    "train-bf16": ["--bf16"],
}
