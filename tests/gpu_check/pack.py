"""What goes to $OUT: at most 8 plainly named files, the rest of the work folder archived."""

from __future__ import annotations

import re
import shutil
import tarfile
from pathlib import Path

from tests.gpu_check.layout import TRAIN_FLAGS

#: What comes back from a device call's $OUT: at most 8 files, at most 2 folders down, named
#: in letters, digits, '.', '_' and '-'. The stages write to the work folder; PACKED go to $OUT.
MAX_OUT_FILES = 8
OUT_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
PACKED = (
    "summary.md",
    "gpu-rows.md",
    "pytest-gpu.xml",
    "pytest-gpu.log",
    "bench-cuda.json",
    "env.json",
    "train.log",
)
#: Everything else (logs, metrics.json, plots), without the checkpoints.
ARCHIVE = "gpu-check.tar.gz"
#: Left out of the archive: checkpoints are large, and the lock is moola's, not a result.
NOT_ARCHIVED_SUFFIXES = (".pt",)
NOT_ARCHIVED_NAMES = (".moola.lock",)


def join_train_logs(work: Path) -> None:
    """train.log: the training runs' logs, one after the other (one file instead of three)."""
    logs = [work / f"{name}.log" for name in TRAIN_FLAGS if (work / f"{name}.log").is_file()]
    if logs:
        joined = "\n".join(log.read_text(encoding="utf-8", errors="replace") for log in logs)
        (work / "train.log").write_text(joined, encoding="utf-8")


def pack(work: Path, out: Path) -> list[Path]:
    """Copy the PACKED files from ``work`` into ``out`` (the training logs joined into one) and
    archive the rest, so that ``out`` holds at most MAX_OUT_FILES plain files."""
    out.mkdir(parents=True, exist_ok=True)
    join_train_logs(work)
    written = []
    for name in PACKED:
        if (work / name).is_file() and work.resolve() != out.resolve():
            shutil.copyfile(work / name, out / name)
        if (out / name).is_file():
            written.append(out / name)
    with tarfile.open(out / ARCHIVE, "w:gz") as archive:
        for path in sorted(work.rglob("*")):
            if (
                path.is_file()
                and path.suffix not in NOT_ARCHIVED_SUFFIXES
                and path.name not in NOT_ARCHIVED_NAMES
            ):
                archive.add(path, arcname=str(path.relative_to(work)))
    written.append(out / ARCHIVE)
    assert len(written) <= MAX_OUT_FILES and all(OUT_NAME.match(p.name) for p in written)
    return written
