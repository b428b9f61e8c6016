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
#: The ``moola pretrain`` run (the ``pretrain`` stage): both objectives on one trunk, on a
#: million bars of the synthetic market at a GPU-sized batch (a dry run: 20,000 bars, 20
#: steps of 32 on the CPU).
PRETRAIN_FLAGS: list[str] = ["--objective", "both", "--eval-every", "0", "--log-every", "10"]
PRETRAIN_SIZES: dict[bool, list[str]] = {
    False: ["--data", "synthetic:1000000", "--steps", "200", "--batch-size", "256"],
    True: ["--data", "synthetic:20000", "--steps", "20", "--batch-size", "32", "--threads", "2"],
}
