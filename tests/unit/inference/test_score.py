"""``moola predict`` judges as training does, or not at all: the run's own priors, the paired
interval and the initial loss on windows the run never saw; in-sample windows counted and
left out; the run's own verdict beside it; no verdict for a run without ``judging.pt``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import moola
from moola.cli import main
from moola.data import save_parquet
from moola.data.corpus import corpus_of_windows
from moola.data.signal_free import SignalFreeConfig, generate_signal_free, random_walk_series
from moola.inference import load_model
from moola.inference.score import assess, score
from moola.inference.sources import from_array
from moola.models import JadeCompact
from moola.rundir.judging import load_judging
from moola.tasks import make_tasks
from moola.verdict import evaluate, fit_priors, prior_losses
from tests.helpers.configs import tiny_config

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
#: Under ``--dist loadgroup`` every test here shares one worker, so the run trains once.
pytestmark = pytest.mark.xdist_group("memorised")
WINDOW = 24
#: A small signal-free file: a 600-bar random walk cut every 4 bars, labels drawn blind.
FILE = SignalFreeConfig(
    n_bars=600, window=WINDOW, stride=4, start_range=(2, 8), length_range=(2, 6), seed=3
)
#: Long enough for a 32-wide model to memorise its 115 training windows: the verdict that
#: fitted its priors on the scored windows called pointers and countdown "learned" on this
#: very file (loss 0.73x and 0.89x those priors; 19 s on the 2-core machine). Evaluated
#: every 100 steps, its validation loss rises while its training loss falls: an overfit.
MEMORISE = dict(
    window=WINDOW,
    steps=600,
    batch_size=16,
    lr=0.01,
    model={"hidden_size": 32, "projection_dim": 32},
    eval_every=100,
)


@pytest.fixture(scope="module")
def memorised(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run folder, file): a model trained until it remembers the signal-free file."""
    root = tmp_path_factory.mktemp("memorised")
    save_parquet(generate_signal_free(FILE), root / "signal_free.parquet")
    out = root / "run"
    moola.train(tiny_config(**MEMORISE, data=str(root / "signal_free.parquet"), out_dir=str(out)))
    return out, root / "signal_free.parquet"


def predict(run: Path, data: Path, out: Path, *extra: str) -> int:
    return main(["predict", str(run), "--data", str(data), "--out", str(out), *extra])


def verdict_metadata(path: Path) -> dict[str, Any]:
    meta = pq.read_schema(path).metadata
    return json.loads(meta[b"moola.verdict"])


def test_a_memorised_signal_free_file_is_not_called_learned_by_predict(
    memorised: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, data = memorised
    n = len(generate_signal_free(FILE))
    for weights in ("best", "final"):
        out = tmp_path / f"{weights}.parquet"
        assert predict(run, data, out, "--weights", weights) == 0
        captured = capsys.readouterr()
        assert "learned:" not in captured.out  # no head's verdict says learned
        assert f"0 never seen by the run, {n} in-sample (not judged)" in captured.out
        assert "no verdict here" in captured.out and "in-sample" in captured.err
        meta = verdict_metadata(out)
        assert meta["verdict"] is None and meta["n_in_sample"] == n and meta["n_judged"] == 0
        assert pq.read_table(out).column("in_sample").to_pylist() == [True] * n


def test_the_runs_own_verdict_is_shown_beside_predicts(
    memorised: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, data = memorised
    assert predict(run, data, tmp_path / "p.parquet") == 0
    out = capsys.readouterr().out
    assert "the run's own verdict (validation)" in out and "did not learn" in out
    run_verdict = verdict_metadata(tmp_path / "p.parquet")["run_verdict"]
    recorded = json.loads((run / "metrics.json").read_text())["best"]
    assert run_verdict["known"] is True and f"step {recorded['step']}" in run_verdict["source"]
    assert {k: v["learned"] for k, v in run_verdict["heads"].items()} == {
        k: v["learned"] for k, v in recorded["tasks"].items()
    }


def test_windows_recut_from_the_raw_series_at_another_stride_are_in_sample(
    memorised: tuple[Path, Path], tmp_path: Path
) -> None:
    """The training file had no start_bar and stride 4; the raw series, cut every 7 bars and
    continued by 200 bars the run never saw, is recognised by its bars alone."""
    run, _ = memorised
    seen = random_walk_series(FILE.n_bars, seed=FILE.seed, vol=FILE.vol)  # the file's bars
    fresh = random_walk_series(200, seed=99, vol=FILE.vol)
    bars = np.concatenate([seen, fresh])
    lines = ["date,open,high,low,close"] + [
        f"2020-01-{i:05d}," + ",".join(repr(float(v)) for v in row) for i, row in enumerate(bars)
    ]
    (tmp_path / "bars.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "p.parquet"
    assert predict(run, tmp_path / "bars.csv", out, "--stride", "7") == 0
    table = pq.read_table(out).to_pydict()
    # every recorded bar is one of the first 600: a window is in-sample when at least 3 of
    # its bars lie there (MIN_SHARED), i.e. when it starts at bar 597 or earlier
    starts = np.array(table["start_bar"])
    assert table["in_sample"] == (starts <= FILE.n_bars - 3).tolist()
    assert 0 < sum(table["in_sample"]) < len(starts)


def test_never_seen_windows_are_judged_with_the_runs_priors_interval_and_initial_loss(
    memorised: tuple[Path, Path],
) -> None:
    run, _ = memorised
    loaded = load_model(run)
    judging = load_judging(run / "judging.pt")
    other = generate_signal_free(SignalFreeConfig(**{**FILE.__dict__, "seed": 4}))
    verdict = score(loaded, other)
    assert verdict.n_in_sample == 0 and verdict.n_judged == len(other)
    assert verdict.heads is not None
    tasks = make_tasks()
    targets = tasks.build_targets(
        torch.from_numpy(other.label),
        torch.from_numpy(other.expansion_start),
        torch.from_numpy(other.expansion_end),
        WINDOW,
    )
    run_priors = prior_losses(tasks, judging.priors, targets)
    hindsight = prior_losses(tasks, fit_priors(tasks, targets), targets)
    initial_model = JadeCompact(loaded.model.config)
    initial_model.load_state_dict(judging.initial_weights)
    # the model's inputs: series inputs, the windows laid onto the series they share bars of
    corpus = corpus_of_windows(other, feature_set=loaded.feature_set, inputs=loaded.inputs)
    assert loaded.inputs == "series"
    x = corpus.store.gather(corpus.starts())
    initial = evaluate(initial_model, x, targets, tasks, None, priors=judging.priors).losses
    for name, head in verdict.heads.items():
        assert head["baseline"] == pytest.approx(run_priors[name], rel=1e-12)
        assert head["initial"] == pytest.approx(initial[name], rel=1e-9)
        assert {"paired_low", "paired_high", "ratio_low", "ratio_high"} <= set(head["metrics"])
        assert "95% CI [" in head["why"]
        assert not head["learned"], head["why"]  # no signal to learn
    # the run's priors, not priors fitted in hindsight on the scored windows
    assert any(run_priors[k] != pytest.approx(hindsight[k], rel=1e-6) for k in run_priors)


def test_a_run_without_judging_pt_predicts_but_has_no_verdict(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old_run"
    shutil.copytree(run_dir, old, ignore=shutil.ignore_patterns("judging.pt", ".moola.lock"))
    windows = generate_signal_free(FILE)
    save_parquet(windows, tmp_path / "w.parquet")
    assert predict(old, tmp_path / "w.parquet", tmp_path / "p.parquet") == 0
    captured = capsys.readouterr()
    assert "learned:" not in captured.out
    assert "no verdict: no judging.pt beside best.pt" in captured.err
    assert "retrain the run" in captured.err
    assert verdict_metadata(tmp_path / "p.parquet")["verdict"] is None
    assert pq.read_table(tmp_path / "p.parquet").column("in_sample").null_count == len(windows)


def test_a_raw_series_gets_no_verdict_but_its_seen_windows(run_dir: Path) -> None:
    loaded = load_model(run_dir)
    windows = generate_signal_free(FILE)
    verdict = assess(loaded, from_array(windows.ohlc[:, :, :], window=WINDOW))
    assert verdict.heads is None and verdict.reason == "no labels to judge by (a raw series)"
    assert verdict.in_sample is not None and not verdict.in_sample.any()


def test_the_chart_title_shows_both_verdicts(
    memorised: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    titles: list[str] = []
    original = Figure.suptitle

    def record(self: Figure, text: str, **kwargs: Any) -> Any:
        titles.append(text)
        return original(self, text, **kwargs)

    monkeypatch.setattr(Figure, "suptitle", record)
    run, data = memorised
    assert predict(run, data, tmp_path / "p.parquet", "--plot", str(tmp_path / "p.png")) == 0
    n = len(generate_signal_free(FILE))
    assert titles and "the run's own verdict (validation): 0 of 4 heads learned" in titles[-1]
    assert "no verdict here (in-sample) | " in titles[-1]
    assert f"{n} in-sample windows not judged" in titles[-1]


def test_the_memorising_run_flags_its_overfit_and_says_what_to_try(
    memorised: tuple[Path, Path],
) -> None:
    run, _ = memorised
    warnings = json.loads((run / "metrics.json").read_text())["warnings"]
    (overfit,) = [w for w in warnings if w["kind"] == "overfit"]
    assert "the validation loss rose after its best while the training loss fell" in overfit["text"]
    for advice in ("--patience", "fewer --steps", "more data", "--init"):
        assert advice in overfit["text"]
