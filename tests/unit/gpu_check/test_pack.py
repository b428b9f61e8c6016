"""``tests.gpu_check.pack``: what a device call brings back from $OUT."""

from __future__ import annotations

import tarfile
from pathlib import Path

from tests.gpu_check import pack
from tests.gpu_check.layout import TRAIN_FLAGS


def test_out_receives_at_most_eight_plainly_named_files(tmp_path: Path) -> None:
    """A device call brings back at most 8 files from $OUT, 2 folders down, plain names."""
    work, out = tmp_path / "work", tmp_path / "out"
    for name in ("summary.md", "gpu-rows.md", "pytest-gpu.xml", "bench-cuda.json", "env.txt"):
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(name)
    for name in TRAIN_FLAGS:
        (work / name).mkdir()
        (work / name / "metrics.json").write_text("{}")
        (work / name / "checkpoint.pt").write_bytes(b"weights")
        (work / f"{name}.log").write_text(f"log of {name}")
    pack.pack(work, out)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(files) <= pack.MAX_OUT_FILES
    assert all(p.parent == out and pack.OUT_NAME.match(p.name) for p in files)
    assert "log of train-graph" in (out / "train.log").read_text()
    with tarfile.open(out / pack.ARCHIVE) as archive:
        names = archive.getnames()
    assert "train-bf16/metrics.json" in names and "env.txt" in names
    assert not any(n.endswith(".pt") for n in names)


def test_everything_packed_fits_the_limit() -> None:
    assert len(pack.PACKED) + 1 <= pack.MAX_OUT_FILES  # the archive is the last one
    assert all(pack.OUT_NAME.match(name) for name in (*pack.PACKED, pack.ARCHIVE))


def test_the_training_logs_are_joined_in_stage_order(tmp_path: Path) -> None:
    (tmp_path / "train-bf16.log").write_text("bf16\n")
    (tmp_path / "train-eager.log").write_text("eager\n")
    pack.join_train_logs(tmp_path)
    assert (tmp_path / "train.log").read_text() == "eager\n\nbf16\n"


def test_only_the_files_there_are_listed_and_no_lock_is_archived(tmp_path: Path) -> None:
    work, out = tmp_path / "work", tmp_path / "out"
    (work / "train-eager").mkdir(parents=True)
    (work / "summary.md").write_text("# gpu-check: all stages ok\n")
    (work / "train-eager" / ".moola.lock").write_text("pid")
    (work / "train-eager" / "loss_curves.png").write_bytes(b"png")
    written = pack.pack(work, out)
    assert [p.name for p in written] == ["summary.md", pack.ARCHIVE]
    with tarfile.open(out / pack.ARCHIVE) as archive:
        assert archive.getnames() == ["summary.md", "train-eager/loss_curves.png"]


def test_packing_into_the_work_folder_itself_copies_nothing(tmp_path: Path) -> None:
    (tmp_path / "summary.md").write_text("# gpu-check: all stages ok\n")
    written = pack.pack(tmp_path, tmp_path)
    assert [p.name for p in written] == ["summary.md", pack.ARCHIVE]
    assert (tmp_path / "summary.md").read_text() == "# gpu-check: all stages ok\n"
