"""The ``moola`` command line: the main job's outputs and the diagnose contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from moola.cli import main

TASKS = ("type", "pointers", "binary", "countdown")


def test_diagnose_json_is_exactly_the_documented_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", "--json", "--balancer", "static", "--batch-size", "8"]) == 0
    result = json.loads(capsys.readouterr().out)  # nothing but the JSON on stdout
    assert result["balancer"] == "static"
    assert set(result["tasks"]) == set(TASKS)
    for task in TASKS:
        row = result["tasks"][task]
        for key in ("loss", "weight", "trunk_grad_norm", "share"):
            assert isinstance(row[key], float), (task, key)
    priorities = {"type": 0.1, "pointers": 0.7, "binary": 0.1, "countdown": 0.1}
    per_priority = [result["tasks"][t]["trunk_grad_norm"] / priorities[t] for t in TASKS]
    assert result["spread"] == pytest.approx(max(per_priority) / min(per_priority), rel=1e-5)
    assert sum(result["tasks"][t]["share"] for t in TASKS) == pytest.approx(1.0, rel=1e-5)
    assert [result["tasks"][t]["weight"] for t in TASKS] == pytest.approx(list(priorities.values()))


def test_diagnose_default_balancer_is_in_proportion(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", "--json", "--batch-size", "8"]) == 0
    assert json.loads(capsys.readouterr().out)["spread"] == pytest.approx(1.0, abs=1e-3)


def test_diagnose_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["diagnose", "--balancer", "legacy", "--countdown-units", "bars", "--batch-size", "8"])
        == 0
    )
    out = capsys.readouterr().out
    for word in ("trunk-grad norm", "share", "effective weight", "worst cosine", *TASKS):
        assert word in out


def test_unknown_balancer_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", "--balancer", "magic"]) == 2
    err = capsys.readouterr().err
    assert "unknown balancer 'magic'" in err and "trunknorm" in err and "legacy" in err
    assert "Traceback" not in err


def test_missing_data_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--data", str(tmp_path / "none.parquet"), "--no-progress"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_train_writes_metrics_plot_and_checkpoint_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["train", "--steps", "6", "--log-every", "2", "--eval-every", "0", "--out", str(out)]
    assert main([*args, "--no-progress", "--threads", "1"]) == 0
    table = capsys.readouterr().out
    assert "initial → final" in table and "verdict" in table

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["steps"] == 6
    assert metrics["history"]["step"] == [2, 4, 6]
    for task in TASKS:
        assert len(metrics["history"][task]) == 3
        summary = metrics["tasks"][task]
        for key in ("initial", "final", "baseline"):
            assert isinstance(summary[key], float)
        assert isinstance(summary["learned"], bool)
    assert (out / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "checkpoint.pt").exists()

    assert main(["train", "--resume", str(out), "--steps", "8", "--no-progress"]) == 0
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed["history"]["step"] == [2, 4, 6, 8]
    assert resumed["history"]["type"][:3] == metrics["history"]["type"]


def test_feature_names_are_recorded_by_diagnose_and_train(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from moola.data import FEATURE_NAMES, feature_names

    assert main(["diagnose", "--json", "--batch-size", "4"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["features"] == "all" and tuple(result["feature_names"]) == FEATURE_NAMES
    assert main(["diagnose", "--batch-size", "4", "--features", "position,candle"]) == 0
    table = capsys.readouterr().out
    assert "features position,candle (7)" in table and "range_z" in table

    out = tmp_path / "run"
    args = ["train", "--steps", "2", "--eval-every", "0", "--out", str(out), "--no-progress"]
    assert main([*args, "--threads", "1", "--features", "candle,move,position"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["features"] == "candle,move,position"
    assert tuple(metrics["feature_names"]) == feature_names("candle,move,position")
    assert len(metrics["feature_names"]) == 10

    # diagnose --checkpoint builds the checkpoint's features unless told otherwise
    capsys.readouterr()
    assert main(["diagnose", "--json", "--batch-size", "4", "--checkpoint", str(out)]) == 0
    probed = json.loads(capsys.readouterr().out)
    assert probed["features"] == "candle,move,position"
    assert probed["feature_names"] == metrics["feature_names"]
    assert (
        main(["diagnose", "--batch-size", "4", "--checkpoint", str(out), "--features", "all"]) == 2
    )
    assert "was trained on features" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("banana", "unknown device 'banana'; use auto, cpu, cuda or cuda:N"),
        ("mps", "unsupported device 'mps'"),
    ],
)
def test_diagnose_names_a_bad_device(
    device: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diagnose", "--device", device]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_diagnose_on_cuda_without_cuda_is_a_named_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", "--device", "cuda"]) == 2
    assert "CUDA is not available; use --device cpu" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "diagnose"])
def test_unknown_feature_set_is_a_clear_error(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [command, "--features", "candle,swings", "--no-progress"][
                : 3 if command == "diagnose" else 4
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert f"moola {command}: error: unknown feature set or group 'swings'" in err
    assert "valid sets: original, all" in err and "candle, swing, move, position" in err
    assert "Traceback" not in err
