"""``tests.gpu_check.machine``: what the run is on, also where nvidia-smi or git is missing."""

from __future__ import annotations

import re

import pytest
import torch

from tests.gpu_check import machine


def test_the_environment_records_torch_and_the_dry_run() -> None:
    info = machine.environment(dry_run=True)
    assert info["torch"] == torch.__version__ and info["dry_run"] is True
    assert info["cuda_available"] == torch.cuda.is_available()
    assert ("device" in info) == torch.cuda.is_available()
    assert set(info["nvidia_smi"]) in ({"error"}, {"query", "csv", "full"})


def test_without_nvidia_smi_or_git_it_says_so_instead_of_failing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "")  # neither program can be found
    smi = machine.nvidia_smi()
    assert list(smi) == ["error"] and smi["error"].startswith("FileNotFoundError")
    assert machine.git_commit() is None


def test_the_commit_is_a_hash_in_a_checkout() -> None:
    commit = machine.git_commit()
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}", commit)
