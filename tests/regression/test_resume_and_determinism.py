"""Same config, same machine: bit-identical histories; N steps + resume M = N+M straight."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from moola.balancing import BALANCERS
from moola.train import TrainConfig, Trainer
from tests.helpers.configs import tiny_config


def tiny_run(balancer: str, steps: int, out_dir: Path | None = None) -> TrainConfig:
    return tiny_config(
        balancer=balancer,
        steps=steps,
        n_windows=96,
        window=32,
        log_every=5,
        eval_every=10,
        out_dir=None if out_dir is None else str(out_dir),
    )


def assert_same_model(a: Trainer, b: Trainer) -> None:
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(p, q), name


def test_reruns_are_bit_identical() -> None:
    first, second = Trainer(tiny_run("trunknorm", 20)), Trainer(tiny_run("trunknorm", 20))
    h1, h2 = first.fit().history, second.fit().history
    assert h1.state_dict() == h2.state_dict()
    assert_same_model(first, second)


def test_different_seeds_give_different_runs() -> None:
    base = tiny_run("trunknorm", 10)
    other = TrainConfig(**{**base.to_dict(), "seed": 1})
    assert Trainer(base).fit().history.losses != Trainer(other).fit().history.losses


@pytest.mark.parametrize("balancer", sorted(BALANCERS))
def test_resume_continues_exactly(balancer: str, tmp_path: Path) -> None:
    straight = Trainer(tiny_run(balancer, 23))
    straight_history = straight.fit().history

    # 13 is off the 5-step log grid and off the 10-step refresh grid of the default balancer.
    interrupted = Trainer(tiny_run(balancer, 13, tmp_path))
    interrupted.fit()
    checkpoint = interrupted.save(tmp_path)
    resumed = Trainer.resume(checkpoint, steps=23)
    assert resumed.step == 13
    resumed_history = resumed.fit().history

    assert resumed_history.step == straight_history.step
    assert resumed_history.losses == straight_history.losses
    assert resumed_history.weights == straight_history.weights
    assert resumed_history.validation == straight_history.validation
    assert_same_model(resumed, straight)


def test_resume_from_a_periodic_checkpoint_on_a_validation_step(tmp_path: Path) -> None:
    """The checkpoint at step 20 follows the validation at step 20: a resume must keep it."""
    straight = Trainer(tiny_run("trunknorm", 23))
    straight_history = straight.fit().history

    config = TrainConfig(
        **{**tiny_run("trunknorm", 23, tmp_path).to_dict(), "checkpoint_every": 10}
    )
    Trainer(config).fit()  # leaves the periodic checkpoint of step 20, as a killed run would
    resumed = Trainer.resume(tmp_path)
    assert resumed.step == 20
    resumed_history = resumed.fit().history
    assert resumed_history.state_dict() == straight_history.state_dict()
    assert_same_model(resumed, straight)
