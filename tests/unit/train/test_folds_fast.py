"""Walk-forward folds in seconds: one 2-step run per fold on two shuffled 24-bar series, and
what ``run_folds`` reports held against what its parts give on their own.

The slower tests in test_folds.py run the CLI and sweeps; these pin the numbers (the fold's
priors, its time order, its interval, the pooled verdict) fast enough for mutation testing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

# Imported here, at collection, so that mutmut's fork server holds torch's compiler (which
# building an optimizer imports) instead of every mutant importing it again.
import torch._dynamo

from moola.data import OHLCWindows, WindowDataset
from moola.data.signal_free import SignalFreeConfig, generate_signal_free
from moola.data.splits import fold_indices, overlap_run
from moola.models.forward import forward_eval
from moola.tasks import make_tasks
from moola.train import TrainConfig, Trainer
from moola.train.folds import FoldScores, pooled_metrics, run_folds
from moola.verdict import (
    BlockBootstrap,
    fit_priors,
    judge_windows,
    prior_window_losses,
    task_metrics,
    window_losses,
)

WINDOW, STRIDE, FOLDS, EMBARGO = 24, 4, 2, 3
FEATURES = "original"  # not the default: the test block must be built with the run's


def two_series() -> OHLCWindows:
    """Two series of overlapping 24-bar windows (given start bars), rows shuffled: row order
    is not time order, and the series overlap in bar numbers."""
    parts = [
        generate_signal_free(
            SignalFreeConfig(
                n_bars=n_bars,
                window=WINDOW,
                stride=STRIDE,
                seed=seed,
                start_range=(2, 10),
                length_range=(2, 8),
            )
        )
        for seed, n_bars in ((0, 400), (1, 320))
    ]
    starts = np.concatenate([np.arange(len(p), dtype=np.int64) * STRIDE for p in parts])
    series = np.concatenate([np.full(len(p), i, dtype=np.int64) for i, p in enumerate(parts)])
    rows = np.random.default_rng(5).permutation(len(starts))
    return OHLCWindows(
        np.concatenate([p.ohlc for p in parts])[rows],
        np.concatenate([p.label for p in parts])[rows],
        np.concatenate([p.expansion_start for p in parts])[rows],
        np.concatenate([p.expansion_end for p in parts])[rows],
        start_bar=starts[rows],
        series=series[rows],
    )


def config(**overrides: Any) -> TrainConfig:
    values: dict[str, Any] = dict(
        steps=3,
        eval_every=1,
        batch_size=8,
        model={"hidden_size": 4, "projection_dim": 4},
        threads=1,
        out_dir=None,
        progress=False,
        seed=2,  # not 0, the bootstrap's default
        lr=0.3,  # steps that overshoot: the best weights are not the last
        embargo=0,
        features=FEATURES,
    )
    return TrainConfig(**{**values, **overrides})


def fold_run(board: Path) -> dict[str, Any]:
    """One 2-fold run (the checks below share it: mutation testing runs a test per mutant
    of the functions it calls, so they are one test)."""
    windows = two_series()
    seen: list[FoldScores] = []
    result = run_folds(
        config(tensorboard_dir=str(board)),
        FOLDS,
        windows=windows,
        embargo=EMBARGO,
        on_fold=seen.append,
    )
    return {"windows": windows, "result": result, "seen": seen, "board": board}


def targets_of(windows: OHLCWindows, idx: np.ndarray) -> dict[str, torch.Tensor]:
    part = WindowDataset(windows.subset(idx), feature_set=FEATURES)
    return make_tasks().build_targets(part.label, part.expansion_start, part.expansion_end, WINDOW)


def check_each_fold_is_the_cut_of_fold_indices_with_the_embargo_asked(
    folded: dict[str, Any],
) -> None:
    windows, doc, seen = folded["windows"], folded["result"].doc, folded["seen"]
    cuts = fold_indices(
        windows.start_bar, windows.series, window=WINDOW, folds=FOLDS, embargo=EMBARGO
    )
    assert doc["folds"] == FOLDS and doc["embargo"] == EMBARGO  # not the config's 0
    assert doc["config"] == config(tensorboard_dir=str(folded["board"])).to_dict()
    assert [s.fold for s in seen] == [f["fold"] for f in doc["per_fold"]] == [1, 2]
    for (train, test), fold in zip(cuts, doc["per_fold"]):
        assert (fold["n_train"], fold["n_test"]) == (len(train), len(test))
        assert fold["best_step"] in (1, 2, 3)  # the fold's best weights, by its inner split
    assert doc["pooled"]["n_test"] == sum(len(test) for _, test in cuts)
    # one TensorBoard run per fold
    assert sorted(p.name for p in folded["board"].iterdir()) == ["fold1", "fold2"]


def check_a_folds_priors_are_fitted_on_its_training_part_and_scored_in_time_order(
    folded: dict[str, Any],
) -> None:
    """The prior's per-window losses on the test block, by priors fitted on the fold's
    training windows only (its run's training and inner validation windows: not all windows,
    not the test block), in time order (series by series, then start bar): the order the
    block bootstrap resamples."""
    windows, seen = folded["windows"], folded["seen"]
    tasks = make_tasks()
    cuts = fold_indices(
        windows.start_bar, windows.series, window=WINDOW, folds=FOLDS, embargo=EMBARGO
    )
    for (train, test), scores in zip(cuts, seen):
        data = Trainer(config(), windows=windows.subset(train)).data  # the fold's own split
        fit_on = {k: torch.cat([data.y_train[k], data.y_val[k]]) for k in data.y_train}
        priors = fit_priors(tasks, fit_on)
        time_order = np.lexsort((windows.start_bar[test], windows.series[test]))
        want = prior_window_losses(tasks, priors, targets_of(windows, test))
        for name in tasks.names:
            np.testing.assert_allclose(scores.prior[name], want[name].numpy()[time_order])
            # the trained head and the head at initialisation are scored apart
            assert scores.head[name].shape == scores.initial[name].shape == (len(test),)
            assert not np.array_equal(scores.head[name], scores.initial[name]), name


def check_the_fold_and_the_pooled_verdicts_judge_their_windows_with_the_runs_seed(
    folded: dict[str, Any],
) -> None:
    windows, doc, seen = folded["windows"], folded["result"].doc, folded["seen"]
    cuts = fold_indices(
        windows.start_bar, windows.series, window=WINDOW, folds=FOLDS, embargo=EMBARGO
    )

    def runs_of(test: np.ndarray) -> int:  # the most overlapping windows of any one series
        return max(
            overlap_run(windows.start_bar[test][windows.series[test] == s], WINDOW) for s in (0, 1)
        )

    names = list(seen[0].head)
    for (_, test), scores, fold in zip(cuts, seen, doc["per_fold"]):
        boot = BlockBootstrap(np.arange(len(test)), overlap_run=runs_of(test), seed=2)
        want = judge_windows(names, scores.head, scores.initial, scores.prior, scores.metrics, boot)
        assert fold["tasks"] == scores.tasks == want
        assert runs_of(test) == WINDOW // STRIDE  # 6 windows share bars with one: blocks of 6
    pooled = {
        part: {n: np.concatenate([getattr(s, part)[n] for s in seen]) for n in names}
        for part in ("head", "initial", "prior")
    }
    boot = BlockBootstrap(
        np.arange(doc["pooled"]["n_test"]),
        overlap_run=max(runs_of(test) for _, test in cuts),
        seed=2,
    )
    metrics = pooled_metrics(seen)
    want = judge_windows(names, pooled["head"], pooled["initial"], pooled["prior"], metrics, boot)
    assert doc["pooled"]["tasks"] == want
    result = folded["result"]
    assert {k: (v.learned, v.why) for k, v in result.verdict.items()} == {
        k: (v["learned"], v["why"]) for k, v in want.items()
    }
    assert result.learned == all(v["learned"] for v in want.values())


def check_the_summary_and_the_warnings_name_the_folds(folded: dict[str, Any]) -> None:
    doc, seen = folded["result"].doc, folded["seen"]
    sizes = sorted(s.n_train for s in seen)
    assert sizes[0] != sizes[-1]  # the training part expands
    n = doc["pooled"]["n_test"]
    assert doc["summary"].startswith("0 of 4 heads learned (pooled over 2 folds, each fold's ")
    assert f"); {sizes[0]}–{sizes[-1]} training / {n} test windows; median 95% " in doc["summary"]
    for scores, fold in zip(seen, doc["per_fold"]):
        assert fold["warnings"] == scores.warnings
        assert all(w["text"].startswith(f"fold {scores.fold}: ") for w in scores.warnings)
    assert doc["warnings"] == [w for s in seen for w in s.warnings]
    # test blocks of about 40 windows are too small to decide, and each one says so
    blocks = [w for w in doc["warnings"] if "the test block has" in w["text"]]
    assert [w["text"].split(":")[0] for w in blocks] == ["fold 1", "fold 2"]
    for scores, w in zip(seen, blocks):
        assert w["kind"] == "small_data" and w["text"].endswith("; use fewer --folds or more data")
        assert (
            f"fold {scores.fold}: the test block has {scores.n_test} windows, too few" in w["text"]
        )


def check_a_fold_reproduces_as_a_run_on_its_training_part(folded: dict[str, Any]) -> None:
    """Fold 1's head losses are those of the **best** weights of a run on its training
    windows (runs are bit-identical), its initial losses those of that run's untrained model,
    its metrics those of the best weights beside the priors of its training part."""
    windows, seen = folded["windows"], folded["seen"]
    train, test = fold_indices(
        windows.start_bar, windows.series, window=WINDOW, folds=FOLDS, embargo=EMBARGO
    )[0]
    trainer = Trainer(config(), windows=windows.subset(train))
    tasks, y = trainer.tasks, targets_of(windows, test)
    x = WindowDataset(windows.subset(test), feature_set=FEATURES).x
    time_order = np.lexsort((windows.start_bar[test], windows.series[test]))

    def losses() -> tuple[dict[str, np.ndarray], dict[str, torch.Tensor]]:
        out = forward_eval(trainer.model, x)
        by_task = {t.name: out[t.output_key] for t in tasks}
        return {k: v.numpy()[time_order] for k, v in window_losses(tasks, by_task, y).items()}, out

    initial, _ = losses()
    result = trainer.fit()
    assert result.best is not None and result.best.step == seen[0].best_step < 3  # not the last
    trainer.model.load_state_dict(result.best.weights)
    head, outputs = losses()
    fit_on = {k: torch.cat([trainer.data.y_train[k], trainer.data.y_val[k]]) for k in y}
    want = task_metrics(outputs, y, tasks, fit_on, window=WINDOW, priors=fit_priors(tasks, fit_on))
    assert seen[0].metrics == want and "constant_mae_bars" in want["countdown"]
    for name in tasks.names:
        np.testing.assert_array_equal(seen[0].head[name], head[name])
        np.testing.assert_array_equal(seen[0].initial[name], initial[name])


def test_a_fold_run_is_what_its_parts_give(tmp_path: Path) -> None:
    folded = fold_run(tmp_path / "board")
    check_each_fold_is_the_cut_of_fold_indices_with_the_embargo_asked(folded)
    check_a_folds_priors_are_fitted_on_its_training_part_and_scored_in_time_order(folded)
    check_the_fold_and_the_pooled_verdicts_judge_their_windows_with_the_runs_seed(folded)
    check_the_summary_and_the_warnings_name_the_folds(folded)
    check_a_fold_reproduces_as_a_run_on_its_training_part(folded)


def test_pooled_metrics_weigh_each_fold_by_its_test_windows() -> None:
    def fold(n_test: int, accuracy: float, prior: float) -> FoldScores:
        metrics = {"type": {"accuracy": accuracy, "baseline_accuracy": prior}}
        return FoldScores(1, 10, n_test, None, {}, {}, {}, metrics)

    assert pooled_metrics([fold(2, 0.5, 0.25)]) == {
        "type": {"accuracy": 0.5, "baseline_accuracy": 0.25}
    }  # one fold: its own
    pooled = pooled_metrics([fold(1, 1.0, 0.0), fold(3, 0.2, 0.4)])
    # weighted: (1 * 1.0 + 3 * 0.2) / 4 = 0.4, not the plain mean 0.6
    assert pooled == {
        "type": {"accuracy": pytest.approx(0.4), "baseline_accuracy": pytest.approx(0.3)}
    }


def test_one_fold_on_the_configs_data_leaves_no_folder_and_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The folds, the embargo and the data default to the config's (here: one fold of the
    synthetic market); the fold's run writes no folder of its own (folds.json is the record)
    and no progress bar, whatever the config says; the caller's config is left as it was."""
    capsys.readouterr()
    asked = config(
        out_dir=str(tmp_path / "run"),
        progress=True,
        steps=1,
        folds=1,
        embargo=EMBARGO,
        n_windows=80,
        window=WINDOW,
    )
    doc = run_folds(asked).doc
    assert doc["folds"] == 1 and doc["embargo"] == EMBARGO and len(doc["per_fold"]) == 1
    n_train, n_test = doc["per_fold"][0]["n_train"], doc["per_fold"][0]["n_test"]
    assert (
        f"(pooled over 1 folds, each fold's best weights); {n_train} training / {n_test} test"
        in (doc["summary"])
    )
    assert not (tmp_path / "run").exists()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert asked.out_dir == str(tmp_path / "run") and asked.progress
