"""Every way a file can fail to be a usable checkpoint: one line naming the file, exit code 2."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from moola.cli import main
from moola.data import FEATURE_NAMES
from moola.rundir.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checkpoint
from moola.train import Trainer
from tests.helpers.configs import tiny_config

SIZES = {"hidden_size": 8, "projection_dim": 8}  # not the default: diagnose must read it


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("good")
    config = tiny_config(
        steps=4, n_windows=48, window=105, model=SIZES, log_every=2, out_dir=str(out)
    )
    trainer = Trainer(config)
    trainer.fit()
    return trainer.save(trainer.config.out_dir)


def edited(good: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    state = torch.load(good, weights_only=True)
    edit(state)
    path = tmp_path / "edited.pt"
    torch.save(state, path)
    return path


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda state: state.__setitem__(key, value)


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda state: state.pop(key)


def _grow_hidden(state: dict[str, Any]) -> None:
    state["config"]["model"] = {**state["config"]["model"], "hidden_size": 16}


def _wrong_weight_shape(state: dict[str, Any]) -> None:
    state["model"]["lstm.weight_ih_l0"] = torch.zeros(5, 7)


def _foreign_optimizer(state: dict[str, Any]) -> None:
    state["optimizer"]["param_groups"][0]["params"] = [0, 1]


def _rng_without_numpy(state: dict[str, Any]) -> None:
    state["rng"].pop("numpy")


EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "missing model": (_drop("model"), r"is missing key\(s\) \['model'\]"),
    "missing config": (_drop("config"), r"is missing key\(s\) \['config'\]"),
    "missing fingerprint": (_drop("fingerprint"), r"is missing key\(s\) \['fingerprint'\]"),
    "format version 1": (_set("format_version", 1), r"has format version 1; this moola reads"),
    "format version 3": (_set("format_version", 3), r"has format version 3; this moola reads"),
    "no format version": (_drop("format_version"), r"not a moola checkpoint \(it has no format"),
    "step of the wrong type": (_set("step", "ten"), r"'step' is a str, expected a int"),
    "weights not tensors": (
        _set("model", {"lstm.weight_ih_l0": [1.0]}),
        r"model entries \['lstm.weight_ih_l0'\] are not tensors",
    ),
    "model larger than its config": (
        _grow_hidden,
        r"the model does not match its configuration: shapes differ",
    ),
    "a weight of the wrong shape": (
        _wrong_weight_shape,
        rf"lstm.weight_ih_l0 \(5, 7\) vs \(32, {len(FEATURE_NAMES)}\)",  # 4 gates x hidden 8
    ),
    "other features": (
        _set("feature_names", ["close_norm", "open_norm"]),
        r"was trained on features \['close_norm', 'open_norm'\] but the data gives \['open_norm'",
    ),
    "unknown config key": (
        lambda s: s["config"].__setitem__("stepz", 3),
        r"has a bad config: unknown config key",
    ),
    "optimizer of another model": (_foreign_optimizer, r"does not fit this run \(ValueError"),
    "rng state missing a part": (_rng_without_numpy, r"does not fit this run \(KeyError: 'numpy'"),
}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err  # one line
    return err


@pytest.mark.parametrize("name", list(EDITS))
def test_a_bad_checkpoint_is_a_named_one_line_error_on_resume(
    name: str, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit, pattern = EDITS[name]
    path = edited(good, tmp_path, edit)
    err = run(["train", "--resume", str(path), "--no-progress", "--out", str(tmp_path)], capsys)
    assert err.startswith("moola train: error: ") and str(path) in err
    assert re.search(pattern, err), err
    assert not (tmp_path / "metrics.json").exists()  # it stopped before training


DIAGNOSE_EDITS = [
    "missing model",
    "format version 1",
    "model larger than its config",
    "a weight of the wrong shape",
    "other features",
]


@pytest.mark.parametrize("name", DIAGNOSE_EDITS)
def test_a_bad_checkpoint_is_a_named_one_line_error_in_diagnose(
    name: str, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit, pattern = EDITS[name]
    path = edited(good, tmp_path, edit)
    err = run(["diagnose", "--checkpoint", str(path), "--batch-size", "4"], capsys)
    assert str(path) in err and re.search(pattern, err), err


def _truncated(good: Path, tmp_path: Path) -> Path:
    data = good.read_bytes()
    path = tmp_path / "truncated.pt"
    path.write_bytes(data[: len(data) // 2])
    return path


def _empty(good: Path, tmp_path: Path) -> Path:
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    return path


def _json(good: Path, tmp_path: Path) -> Path:
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"history": {}}))
    return path


def _tensor(good: Path, tmp_path: Path) -> Path:
    path = tmp_path / "tensor.pt"
    torch.save(torch.ones(3), path)
    return path


def _folder_without_checkpoint(good: Path, tmp_path: Path) -> Path:
    return tmp_path


def _nothing(good: Path, tmp_path: Path) -> Path:
    return tmp_path / "nope.pt"


FILES: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "truncated file": (_truncated, r"is truncated or corrupt"),
    "empty file": (_empty, r"is empty \(0 bytes\)"),
    "a JSON file": (_json, r"is not a moola checkpoint \(not a torch zip archive; it starts"),
    "a plain tensor": (_tensor, r"is not a moola checkpoint \(it holds a Tensor, not a dict\)"),
    "a folder without checkpoint": (_folder_without_checkpoint, r"has no checkpoint\.pt"),
    "a path that does not exist": (_nothing, r"no checkpoint at"),
}


@pytest.mark.parametrize("name", list(FILES))
@pytest.mark.parametrize("command", ["train", "diagnose"])
def test_a_file_that_is_not_a_checkpoint_is_a_named_one_line_error(
    name: str, command: str, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, pattern = FILES[name]
    path = make(good, tmp_path)
    if command == "train":
        argv = ["train", "--resume", str(path), "--no-progress"]
    else:
        argv = ["diagnose", "--checkpoint", str(path), "--batch-size", "4"]
    err = run(argv, capsys)
    assert str(path) in err and re.search(pattern, err), err


def test_the_library_raises_checkpoint_error(good: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="is missing key"):
        load_checkpoint(edited(good, tmp_path, _drop("model")))


def test_diagnose_probes_a_good_checkpoint_with_its_own_model_sizes(
    good: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diagnose", "--checkpoint", str(good.parent), "--batch-size", "4", "--json"]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert main(["diagnose", "--batch-size", "4", "--json"]) == 0
    fresh = json.loads(capsys.readouterr().out)
    assert trained["tasks"]["type"]["loss"] != fresh["tasks"]["type"]["loss"]  # other weights
    assert good.name == CHECKPOINT_NAME
