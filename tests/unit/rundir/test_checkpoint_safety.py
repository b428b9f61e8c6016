"""Loading a checkpoint never runs code from it, and everything moola saves loads weights-only."""

from __future__ import annotations

import io
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import moola
from moola.balancing import BALANCERS
from moola.cli import main
from moola.errors import MoolaError
from moola.rundir.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from moola.train import TrainConfig, Trainer
from tests.helpers.configs import tiny_config


class OpenFile:
    """Its pickle calls ``open(marker, "w")``: unpickling it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, ...]:
        return (open, (self.marker, "w"))


class SystemCall(OpenFile):
    """Its pickle calls ``os.system("touch marker")``."""

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch '{self.marker}'",))


def write_evil(path: Path, payload: object, *, zip_format: bool = True) -> Path:
    """A checkpoint-shaped document whose model entry runs code when unpickled."""
    document = {"format_version": 2, "config": {}, "step": 0, "model": payload}
    if zip_format:
        torch.save(document, path)
    else:
        path.write_bytes(pickle.dumps(document))
    return path


EVIL_KINDS = {
    "open-in-torch-zip": (OpenFile, True),
    "os.system-in-torch-zip": (SystemCall, True),
    "open-in-raw-pickle": (OpenFile, False),
}


@pytest.mark.parametrize("kind", sorted(EVIL_KINDS))
def test_the_evil_file_really_runs_code_when_unpickled_unsafely(kind: str, tmp_path: Path) -> None:
    """Proves the refusal tests below can fail: an unsafe load does create the marker."""
    cls, zip_format = EVIL_KINDS[kind]
    marker = tmp_path / "marker"
    evil = write_evil(tmp_path / "evil.pt", cls(marker), zip_format=zip_format)
    if zip_format:
        torch.load(evil, weights_only=False)
    else:
        pickle.loads(evil.read_bytes())  # the point of the test
    assert marker.exists()


@pytest.mark.parametrize("kind", sorted(EVIL_KINDS))
@pytest.mark.parametrize("command", ["train", "diagnose"])
def test_a_checkpoint_that_would_run_code_is_refused(
    kind: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cls, zip_format = EVIL_KINDS[kind]
    marker = tmp_path / "marker"
    evil = write_evil(tmp_path / "evil.pt", cls(marker), zip_format=zip_format)
    if command == "train":
        argv = ["train", "--resume", str(evil), "--no-progress", "--out", str(tmp_path / "o")]
    else:
        argv = ["diagnose", "--checkpoint", str(evil), "--batch-size", "4"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"moola {command}: error: ") and err.count("\n") == 1, err
    assert str(evil) in err
    expected = "refusing to load" if zip_format else "not a moola checkpoint"
    assert expected in err and "Traceback" not in err
    assert not marker.exists()


def test_a_checkpoint_that_would_run_code_is_refused_by_the_installed_command(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"
    evil = write_evil(tmp_path / "evil.pt", SystemCall(marker))
    env = {**os.environ, "PYTHONPATH": str(Path(moola.__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-m", "moola", "train", "--resume", str(evil), "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"refusing to load {evil}: it asks to import" in done.stderr
    assert not marker.exists()


def tiny(balancer: str) -> TrainConfig:
    return tiny_config(balancer=balancer, steps=3, n_windows=48, log_every=2)


@pytest.mark.parametrize("balancer", sorted(BALANCERS))
def test_every_balancer_state_round_trips_weights_only(balancer: str, tmp_path: Path) -> None:
    trainer = Trainer(tiny(balancer))
    trainer.fit()
    path = save_checkpoint(trainer.state_dict(), tmp_path / "c.pt")  # refuses non-plain data
    loaded = load_checkpoint(path)  # weights_only=True
    saved = trainer.balancer.state_dict()
    assert set(loaded["balancer"]) == set(saved)
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    buffer.seek(0)
    assert str(torch.load(buffer, weights_only=True)) == str(saved)


@pytest.mark.parametrize(
    ("value", "where"),
    [
        (np.zeros(2), r"checkpoint\['balancer'\]\['x'\] is a numpy.ndarray"),
        (OpenFile(Path("m")), r"checkpoint\['balancer'\]\['x'\] is a .*OpenFile"),
        ({1, 2}, r"checkpoint\['balancer'\]\['x'\] is a builtins.set"),
    ],
)
def test_saving_anything_but_plain_data_is_refused(
    value: object, where: str, tmp_path: Path
) -> None:
    with pytest.raises(MoolaError, match=where):
        save_checkpoint({"model": {}, "balancer": {"x": value}}, tmp_path / "c.pt")
    assert not (tmp_path / "c.pt").exists()


def test_format_1_checkpoints_with_numpy_state_are_refused_without_unpickling(
    tmp_path: Path,
) -> None:
    old = tmp_path / "old.pt"
    torch.save({"format_version": 1, "rng": {"numpy": np.random.get_state()}}, old)  # noqa: NPY002
    with pytest.raises(CheckpointError, match=r"refusing to load .*asks to import numpy"):
        load_checkpoint(old)


def test_every_torch_load_in_the_package_is_weights_only() -> None:
    package = Path(moola.__file__).parent
    calls = 0
    for source in package.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        for found in re.finditer(r"torch\.load\((?P<args>[^)]*)\)", text):
            calls += 1
            assert "weights_only=True" in found["args"], f"{source}: {found.group(0)}"
    assert calls >= 1  # the checkpoint loader itself
