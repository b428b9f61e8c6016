"""One loop, several objectives: an objective that is not JadeCompact's four heads trains
through the same loop, with the same step, balancers, telemetry, checkpoints, resume guard,
run folder and verdict.

The toy objective: windows of 12 bars × 3 random inputs; a small GRU trunk; two heads, each
a function of the window's inputs: ``level`` (regression: the mean of input 0 over the
window) and ``rising`` (binary: is input 1's last value above its first). Its priors are the
prior-only predictors of each target (the training mean and the training rate).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from moola.data.fingerprint import Fingerprint
from moola.data.splits import Split, SplitInfo, train_val_split
from moola.models import MultiTaskModel
from moola.models.forward import forward_eval
from moola.rundir.checkpoint import CheckpointError
from moola.seeding import numpy_generator
from moola.tasks import Task, TaskSet
from moola.train import Trainer
from moola.train.objectives import Objective, Part, RunData
from moola.train.run import AUTO, run_training
from moola.verdict import Evaluation
from tests.helpers.configs import tiny_config

N, K, F_IN = 160, 12, 3


class MSETask(Task):
    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(prediction, target)


class BCETask(Task):
    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(prediction, target)


class ToyModel(MultiTaskModel):
    """A GRU trunk; the heads read its mean over the window."""

    def __init__(self, n_features: int, hidden: int = 8) -> None:
        super().__init__()
        self.gru = nn.GRU(n_features, hidden, batch_first=True)
        self.level_head = nn.Linear(hidden, 1)
        self.rising_head = nn.Linear(hidden, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        return out

    def task_names(self) -> tuple[str, ...]:
        return ("level", "rising")

    def decode_tasks(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {
            "level": self.level_head(inputs["level"][:, -1]).squeeze(-1),
            "rising": self.rising_head(inputs["rising"][:, -1]).squeeze(-1),
        }

    def trunk_parameters(self) -> list[nn.Parameter]:
        return list(self.gru.parameters())

    def head_parameters(self) -> list[nn.Parameter]:
        return [*self.level_head.parameters(), *self.rising_head.parameters()]


class ToyObjective(Objective):
    name = "toy"

    def __init__(self) -> None:
        super().__init__(TaskSet((MSETask("level", 0.5), BCETask("rising", 0.5))))

    def build_data(self, config, device, *, windows=None) -> RunData:  # type: ignore[no-untyped-def]
        rng = numpy_generator(config.data_seed, 99)
        x = rng.standard_normal((N, K, F_IN)).astype(np.float32)
        targets = {
            "level": x[:, :, 0].mean(axis=1),
            "rising": (x[:, -1, 1] > x[:, 0, 1]).astype(np.float32),
        }
        train, val = train_val_split(N, val_fraction=config.val_fraction, seed=config.seed)
        info = SplitInfo("random", len(train), len(val), 0, 0, 0, "toy windows")
        split = Split(train, val, np.arange(len(val)), 1, info)

        def part(idx: np.ndarray) -> Part:
            return Part(
                torch.from_numpy(x[idx]).to(device),
                {k: torch.from_numpy(v[idx]).to(device) for k, v in targets.items()},
            )

        fingerprint = Fingerprint()
        fingerprint.add("x", torch.from_numpy(x))
        train_part, val_part = part(train), part(val)
        priors = {k: float(v.mean()) for k, v in train_part.targets.items()}
        return RunData(
            train=train_part,
            val=val_part,
            prior_losses=self.prior_losses(priors, val_part),
            priors=priors,
            feature_names=tuple(f"input_{i}" for i in range(F_IN)),
            fingerprint=fingerprint.hexdigest(),
            window=K,
            split=split,
        )

    @staticmethod
    def prior_losses(priors: dict[str, float], part: Part) -> dict[str, float]:
        level, rising = part.targets["level"], part.targets["rising"]
        rate = min(max(priors["rising"], 1e-6), 1 - 1e-6)
        logit = torch.full_like(rising, float(np.log(rate / (1 - rate))))
        return {
            "level": float(F.mse_loss(torch.full_like(level, priors["level"]), level)),
            "rising": float(F.binary_cross_entropy_with_logits(logit, rising)),
        }

    def build_model(self, config, n_features, device) -> ToyModel:  # type: ignore[no-untyped-def]
        return ToyModel(n_features).to(device)

    def evaluate(self, model: MultiTaskModel, data: RunData) -> Evaluation:
        outputs = forward_eval(model, data.val.x)
        losses = self.tasks.losses(outputs, data.val.targets)
        return Evaluation(dict(zip(self.tasks.names, losses.tolist())), {})


def toy_config(**overrides):  # type: ignore[no-untyped-def]
    values = dict(n_windows=N, window=K, batch_size=16, lr=1e-2, log_every=10, eval_every=50)
    return tiny_config(**{"steps": 200, **values, **overrides})


@pytest.mark.parametrize("balancer", ["trunknorm", "static", "pcgrad"])
def test_the_toy_objective_learns_through_the_loop(balancer: str) -> None:
    """The same loop and step, with three balancers: both heads go below their priors, and
    the verdict (loss alone: the toy heads have no metric rule) says they learned."""
    result = Trainer(toy_config(balancer=balancer), objective=ToyObjective()).fit()
    summary = result.task_summary()
    assert set(summary) == {"level", "rising"}
    for name, head in summary.items():
        assert head["final"] < 0.8 * head["baseline"], (name, head["why"])
        assert head["learned"] and head["why"].endswith("no metric to check"), head["why"]


def test_telemetry_and_the_probe_measure_the_toy_trunk() -> None:
    trainer = Trainer(toy_config(steps=20, telemetry_every=10), objective=ToyObjective())
    trainer.fit()
    records = trainer.history.telemetry
    assert [r["step"] for r in records] == [0, 10]
    for record in records:
        shares = [record[name]["share"] for name in ("level", "rising")]
        assert sum(shares) == pytest.approx(1.0) and min(shares) > 0


def test_the_run_folder_and_an_exact_resume_work_for_any_objective(tmp_path: Path) -> None:
    """``run_training`` writes the toy run's folder; a run stopped at step 60 and continued
    to 120 ends bit-identical to an uninterrupted one; a supervised resume of it is refused."""
    whole = run_training(toy_config(steps=120, out_dir=None), objective=ToyObjective())
    out = tmp_path / "toy"
    run_training(toy_config(steps=60, out_dir=str(out)), objective=ToyObjective())
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["tasks"]) == {"level", "rising"} and (out / "checkpoint.pt").is_file()
    resumed = run_training(
        toy_config(steps=120, out_dir=str(out)), objective=ToyObjective(), resume=AUTO
    )
    assert resumed.resumed_at == 60
    assert resumed.metrics["history"] == whole.metrics["history"]
    with pytest.raises(CheckpointError, match="'toy' objective, not 'supervised'"):
        Trainer.resume(out, **toy_config(steps=130, out_dir=None).to_dict())
