"""--out is checked before training and held by one run at a time; killed runs leave no litter."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from moola.cli import main
from moola.rundir.claim import LOCK_NAME, OutDirError, claim_out_dir
from moola.train import Trainer

TRAIN = ["train", "--steps", "2", "--no-progress", "--threads", "1", "--eval-every", "0"]


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if training starts: these errors must come before it."""

    def fit(self: Trainer, progress: object = None) -> None:
        raise AssertionError("training started")

    monkeypatch.setattr(Trainer, "fit", fit)


def refuse(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_out_that_is_a_file_fails_before_training(
    tmp_path: Path, no_training: None, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    err = refuse([*TRAIN, "--out", str(target)], capsys)
    assert f"--out {target} is a file, not a folder" in err
    assert target.read_text() == "keep me"


def test_out_below_a_file_fails_before_training(
    tmp_path: Path, no_training: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    err = refuse([*TRAIN, "--out", str(tmp_path / "file" / "run")], capsys)
    assert f"cannot create output folder {tmp_path / 'file' / 'run'}" in err


def test_out_not_writable_fails_before_training(
    tmp_path: Path,
    no_training: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Simulated with os.access, because the suite may run as root, where chmod stops nothing."""
    out = tmp_path / "ro"
    out.mkdir()
    monkeypatch.setattr("moola.rundir.claim.os.access", lambda path, mode: False)
    err = refuse([*TRAIN, "--out", str(out)], capsys)
    assert f"output folder {out} is not writable" in err


def test_out_on_a_read_only_filesystem_fails_before_training(
    tmp_path: Path,
    no_training: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("moola.rundir.claim.tempfile.TemporaryFile", read_only)
    err = refuse([*TRAIN, "--out", str(tmp_path)], capsys)
    assert f"output folder {tmp_path} is not writable: {os.strerror(errno.EROFS)}" in err


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root writes through chmod 0o500; the os.access variant above covers root",
)
def test_out_chmod_read_only_fails_before_training(
    tmp_path: Path, no_training: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        err = refuse([*TRAIN, "--out", str(out)], capsys)
    finally:
        out.chmod(0o700)
    assert "is not writable" in err


def test_a_second_run_on_a_held_folder_refuses_naming_the_holder(
    tmp_path: Path, no_training: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with claim_out_dir(tmp_path):  # another open file description: the lock conflicts
        err = refuse([*TRAIN, "--out", str(tmp_path)], capsys)
    assert f"output folder {tmp_path} is in use by another moola run" in err
    assert f"held by moola train, pid {os.getpid()} on " in err
    with claim_out_dir(tmp_path) as folder:  # released when the first holder closed it
        assert folder == tmp_path and (tmp_path / LOCK_NAME).exists()


def test_claiming_removes_the_temp_files_of_a_killed_write_only(tmp_path: Path) -> None:
    stale = tmp_path / ".checkpoint.pt.0123456789ab.tmp"  # atomic_write's temporary name
    stale.write_bytes(b"half a checkpoint")
    mine = tmp_path / "notes.tmp"
    mine.write_text("user file")
    with claim_out_dir(tmp_path):
        pass
    assert not stale.exists() and mine.exists()


def test_claim_errors_are_outdir_errors(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(OutDirError, match="is a file"), claim_out_dir(tmp_path / "f"):
        pass
