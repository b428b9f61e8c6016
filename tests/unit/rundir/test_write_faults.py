"""A write that fails midway (full disk, permission denied) loses nothing and names the path."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
from pathlib import Path
from typing import IO, Any

import pytest

import moola.atomic
from moola.atomic import atomic_write_text
from moola.cli import main
from moola.rundir.checkpoint import load_checkpoint

RUN = ["--no-progress", "--threads", "1", "--eval-every", "0", "--log-every", "1"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finished")
    assert main(["train", "--steps", "2", "--batch-size", "8", "--out", str(out), *RUN]) == 0
    return out


class HalfWriter:
    """A file handle that writes half of the first chunk, then fails like a full disk."""

    def __init__(self, handle: IO[bytes], error: OSError) -> None:
        self.handle, self.error = handle, error

    def write(self, data: Any) -> int:
        self.handle.write(bytes(data)[: max(1, len(data) // 2)])
        self.handle.flush()
        raise self.error

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)

    def __enter__(self) -> HalfWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


def inject(monkeypatch: pytest.MonkeyPatch, target: str, code: int) -> None:
    """Fail writes of ``target``: ENOSPC midway through the bytes, EACCES on creating the file."""
    error = OSError(code, os.strerror(code))
    real_open, real_fdopen = os.open, os.fdopen
    doomed: set[int] = set()

    def open_(name: str, flags: int, *args: Any, **kwargs: Any) -> int:
        mine = Path(name).name.startswith(f".{target}.")
        if mine and code == errno.EACCES:
            raise error
        fd = real_open(name, flags, *args, **kwargs)
        if mine:
            doomed.add(fd)
        return fd

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        handle = real_fdopen(fd, *args, **kwargs)
        return HalfWriter(handle, error) if fd in doomed else handle

    monkeypatch.setattr(moola.atomic.os, "open", open_)
    monkeypatch.setattr(moola.atomic.os, "fdopen", fdopen)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES], ids=["ENOSPC", "EACCES"])
@pytest.mark.parametrize("target", ["checkpoint.pt", "metrics.json"])
def test_a_failed_write_keeps_the_previous_files_and_names_the_path(
    target: str,
    code: int,
    finished: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    before = {name: (out / name).read_bytes() for name in ("checkpoint.pt", "metrics.json")}
    inject(monkeypatch, target, code)

    assert main(["train", "--resume", str(out), "--steps", "3", "--out", str(out), *RUN]) == 2
    err = capsys.readouterr().err
    assert f"could not write {out / target}: {os.strerror(code)}" in err
    assert "Traceback" not in err
    monkeypatch.undo()

    assert (out / target).read_bytes() == before[target]  # untouched, byte for byte
    assert load_checkpoint(out)["step"] in (2, 3)  # readable: old, or new when metrics failed
    assert json.loads((out / "metrics.json").read_text())["history"]["step"] == [1, 2]
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_atomic_files_get_the_mode_a_plain_open_would(tmp_path: Path) -> None:
    """Run files get the mode a plain open() gives (0666 less the umask), not mkstemp's 0600."""
    old = os.umask(0o022)
    try:
        written = atomic_write_text(tmp_path / "metrics.json", "{}")
        plain = tmp_path / "plain.txt"
        plain.write_text("{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o644
