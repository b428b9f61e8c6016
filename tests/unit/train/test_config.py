"""TrainConfig checks its settings when it is made: nested keys (``model``, ``priorities``)
too, so ``moola sweep --set 'model={"hidden":64}'`` refuses up front instead of every run
failing with a raw TypeError in its error.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from moola.cli import main
from moola.errors import ConfigError
from moola.train import TrainConfig


@pytest.mark.parametrize(
    ("model", "needle"),
    [
        ({"hidden": 64}, "unknown model setting(s) 'hidden'; valid keys: hidden_size, num_layers"),
        ({"hidden_size": 0}, "hidden_size must be >= 1"),
        ({"hidden_size": "wide"}, "model settings {'hidden_size': 'wide'}"),
        ({"n_features": 3}, "unknown model setting(s) 'n_features'"),  # taken from the data
    ],
)
def test_bad_model_settings_are_a_config_error(model: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TrainConfig(model=model)
    assert needle in str(caught.value)


def test_unknown_priorities_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown task\(s\) \['typ'\]"):
        TrainConfig(priorities={"typ": 0.5})


def test_sweep_refuses_a_bad_model_key_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", "--set", 'model={"hidden":64}', "--steps", "2", "--out", str(out)]
    assert main([*args, "--executor", "inline", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'hidden'" in err and "hidden_size" in err
    assert not out.exists()  # nothing was written
