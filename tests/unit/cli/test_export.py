"""``moola export``: named outputs in natural units, a dynamic batch axis, the run's metadata,
and one line with exit status 2 for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import moola
from moola.cli import main
from moola.data import SyntheticConfig, generate_synthetic
from moola.inference import load_model

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

# One worker exports the model once for every test here (the export takes ~20 s of CPU).
pytestmark = pytest.mark.xdist_group("onnx_export")


@pytest.fixture(scope="module")
def exported(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    run = run_dir
    out = tmp_path_factory.mktemp("onnx") / "model.onnx"
    assert main(["export", str(run), "--out", str(out)]) == 0
    return run, out


def test_the_graph_has_named_outputs_a_dynamic_batch_and_the_runs_metadata(
    exported: tuple[Path, Path],
) -> None:
    from moola.inference.export import OUTPUT_NAMES, OnnxModel

    run, path = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == list(OUTPUT_NAMES)
    assert session.get_inputs()[0].shape[1:] == [24, 16]
    meta = session.get_modelmeta().custom_metadata_map
    loaded = load_model(run)
    assert json.loads(meta["feature_names"]) == list(loaded.feature_names)
    assert (meta["feature_set"], meta["window"], meta["weights"]) == ("all", "24", "best")
    onnx_model = OnnxModel(path)
    for batch in (1, 37):  # neither is the export's example batch (2)
        ohlc = generate_synthetic(SyntheticConfig(n_windows=batch, window=24, seed=batch)).ohlc
        pred = onnx_model.predict(ohlc)
        expected = moola.predict(loaded, ohlc)
        assert pred.countdown.shape == (batch, 24) and pred.type_prob.shape == (batch, 3)
        np.testing.assert_allclose(pred.countdown, expected.countdown, atol=2e-4)
        np.testing.assert_allclose(pred.type_prob, expected.type_prob, atol=5e-6)


def test_the_docs_onnx_examples_run(
    exported: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/predict.md's ONNX examples (marked ``run-in`` this file) run on this exported
    model, here rather than in tests/unit/docs: the export is the expensive part."""
    from tests.unit.docs.markdown import ROOT, blocks
    from tests.unit.docs.sandbox import run_python, write_bars

    examples = [
        b for b in blocks(ROOT / "docs/predict.md") if b.run_in == "tests/unit/cli/test_export.py"
    ]
    assert len(examples) == 2
    shutil.copy(exported[1], tmp_path / "mine.onnx")
    write_bars(tmp_path / "bars.csv", n=200)
    monkeypatch.chdir(tmp_path)
    namespace = run_python(examples)
    assert namespace["onnx_pred"].type_prob.shape == (1, 3)


def one_line_error(capsys: pytest.CaptureFixture[str], needle: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("moola export: error:") and err.count("\n") == 1, err
    assert needle in err, err


def test_a_missing_run_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "m.onnx")]) == 2
    one_line_error(capsys, "no run or checkpoint")


def test_other_features_are_one_line(
    exported: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = torch.load(exported[0] / "best.pt", weights_only=True)
    document["feature_names"] = ["a", *document["feature_names"][1:]]
    torch.save(document, tmp_path / "best.pt")
    assert main(["export", str(tmp_path / "best.pt"), "--out", str(tmp_path / "m.onnx")]) == 2
    one_line_error(capsys, "was trained on features")


@pytest.mark.parametrize(("out", "needle"), [("f.txt/m.onnx", "not a folder"), ("m.pt", ".onnx")])
def test_an_unwritable_out_is_one_line(
    exported: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    out: str,
    needle: str,
) -> None:
    (tmp_path / "f.txt").write_text("x")
    assert main(["export", str(exported[0]), "--out", str(tmp_path / out)]) == 2
    one_line_error(capsys, needle)
