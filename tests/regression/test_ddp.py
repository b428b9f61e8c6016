"""``moola pretrain`` under ``torchrun``: two processes (gloo) train as one, and every rank
applies the same balancer weights.

**The tolerance, derived.** Two processes compute the same quantities as one on the same
global batch: each rank takes a contiguous half of it, the gradients and the logged losses
are averaged over the ranks, and trunknorm's gradient norms are reduced before its weights
are made (:mod:`moola.collective`). What differs is only the order of float32 sums (unit
roundoff u = 2⁻²⁴ = 6.0e-8): a half-batch mean of two half-batch means instead of one mean,
and weight gradients summed over the rows in two parts. The longest such sum is a weight
gradient's over B·K = 16 × 40 = 640 terms, so one step's gradients differ by at most
γ₆₄₀ = 640u = 3.8e-5 relatively (Higham's bound for recursive summation). AdamW's update
lr·m̂/(√v̂ + ε) is scale-free in the gradient, so that relative error reaches the update
unamplified, at most 2γ·lr per coordinate and step; over 20 steps at lr 3e-3 the weights
differ by at most 20 × 3e-3 × 7.6e-5 = 4.6e-6. Hence ``atol = 1e-5`` on the final weights,
and ``rtol = 1e-4`` on every logged loss and balancer weight (each a smooth function of the
weights and the batch: its own rounding, γ, plus the drift's effect, ≪ 1e-4). Dropout is
off in these runs: with it, each rank draws the masks of a half batch (the same draws on
every rank, from the run's seed), not the masks one process draws for the whole batch, so
two processes are another (equally valid) run, not the same one. Measured here (2-core VM,
torch 2.13 CPU): weights within 2.8e-7, losses within 2.5e-7 and balancer weights within
2.7e-6 relatively, two orders of magnitude inside the bounds.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import moola
from moola.rundir.pretrained import load_pretrained

pytestmark = pytest.mark.slow

ATOL_WEIGHTS = 1e-5
RTOL_HISTORY = 1e-4
NO_DROPOUT = '{"hidden_size": 12, "projection_dim": 8, "input_dropout": 0.0, "dense_dropout": 0.0}'
RECIPE = [
    "--data", "synthetic:3000:1", "--objective", "both", "--window", "40", "--steps", "20",
    "--batch-size", "16", "--lr", "3e-3", "--threads", "1", "--log-every", "1",
    "--eval-every", "10", "--device", "cpu", "--no-progress", "--set", f"model={NO_DROPOUT}",
]  # fmt: skip


def pretrain(out: Path, processes: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(moola.__file__).parents[1]), "OMP_NUM_THREADS": "1"}
    launcher = (
        [sys.executable, "-m", "moola"]
        if processes == 1
        else [sys.executable, "-m", "torch.distributed.run", "--standalone",
              f"--nproc_per_node={processes}", "-m", "moola"]
    )  # fmt: skip
    done = subprocess.run(
        [*launcher, "pretrain", *RECIPE, "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_two_processes_under_torchrun_match_one_within_the_derived_tolerance(
    tmp_path: Path,
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    pretrain(one, 1)
    printed = pretrain(two, 2).stderr
    assert "batch 16 over 2 processes" in printed
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (one, two))
    assert a["history"]["step"] == b["history"]["step"] == list(range(1, 21))
    for name in a["tasks"]:
        np.testing.assert_allclose(b["history"][name], a["history"][name], rtol=RTOL_HISTORY)
        np.testing.assert_allclose(b["weights"][name], a["weights"][name], rtol=RTOL_HISTORY)
        assert b["tasks"][name]["final"] == pytest.approx(
            a["tasks"][name]["final"], rel=RTOL_HISTORY
        )
    wa, wb = load_pretrained(one)["model"], load_pretrained(two)["model"]
    assert wa.keys() == wb.keys()
    for name, tensor in wa.items():
        torch.testing.assert_close(wb[name], tensor, rtol=0, atol=ATOL_WEIGHTS)
    # rank 0 alone wrote the folder
    assert sorted(p.name for p in two.iterdir() if not p.name.startswith(".")) == sorted(
        p.name for p in one.iterdir() if not p.name.startswith(".")
    )


def _rank(rank: int, world: int, port: int, out: str) -> None:
    """One process of the spawned group: pretrain (with dropout on), save what it applied."""
    import torch.distributed as dist

    from moola.train import TrainConfig, Trainer
    from moola.train.objectives.pretrain import PretrainObjective

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        config = TrainConfig(
            data="synthetic:3000:1", window=40, steps=15, batch_size=16, threads=1, log_every=1,
            eval_every=0, telemetry_every=0, out_dir=None, progress=False,
            model={"hidden_size": 12, "projection_dim": 8},
        )  # fmt: skip
        trainer = Trainer(config, objective=PretrainObjective("both", config))
        trainer.fit()
        document: dict[str, Any] = {
            "weights": trainer.history.weights,
            "gain": trainer.balancer.state_dict()["gain"],
            "model": trainer.model.state_dict(),
        }
        torch.save(document, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_every_rank_applies_the_same_balancer_weights_bit_for_bit(tmp_path: Path) -> None:
    """Dropout on, each rank on its own windows (so the ranks' own gradients differ):
    trunknorm's weights at every step, its gains and the model are the same bits on both
    ranks."""
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank, args=(2, port, str(tmp_path)), nprocs=2)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["weights"] == r1["weights"]
    assert len(r0["weights"]["reconstruction"]) == 15
    assert torch.equal(r0["gain"], r1["gain"])
    for name, tensor in r0["model"].items():
        assert torch.equal(tensor, r1["model"][name]), name
