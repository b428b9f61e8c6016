"""The README's Python example runs as written (on a smaller model, for speed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import moola.train.recipe

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    marker = text.index("tests/unit/test_readme_api.py")
    block = re.search(r"```python\n(.*?)```", text[marker:], re.S)
    assert block is not None
    return block.group(1)


def test_the_readme_example_is_at_most_ten_lines() -> None:
    assert len(readme_example().strip().splitlines()) <= 10


def test_the_readme_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_train = moola.train.recipe.train

    def small_train(config: Any, **kwargs: Any) -> Any:
        small = {"n_windows": 64, "batch_size": 8, "threads": 1, "eval_every": 5, "steps": 10}
        small["model"] = {"hidden_size": 8, "projection_dim": 8}
        return real_train({**config, **small}, **kwargs)

    monkeypatch.setattr(moola.train.recipe, "train", small_train)
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_example(), "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("{'type': ") and len(out) == 3
    assert out[1].split()[0] in moola.LABEL_NAMES
    assert (tmp_path / "runs" / "api" / "best.pt").is_file()
