"""Judge labelled windows as training judged its validation windows, or not at all.

``moola predict`` on labelled windows gives each head the training verdict
(:func:`moola.verdict.judge_head`, through :func:`moola.verdict.evaluate` exactly as the
trainer calls them) with what the run saved in ``judging.pt`` (:mod:`moola.rundir.judging`):

* the **prior-only predictors fitted on the run's training split**, not on the scored
  windows (priors fitted on the scored windows let a model that memorised them look
  learned);
* the **paired block-bootstrap interval** over the judged windows in time order (blocks as
  long as the most judged windows that share bars with one; the run's seed);
* the **initial loss**: the run's own initial weights on the same windows.

Only windows the run never saw are judged. A window that shares bars with the run's
training or validation windows (:mod:`moola.data.seen`: by the bars themselves, so a file
without ``start_bar`` or the series cut again at another stride is recognised all the same)
is **in-sample**: its loss says how well the model remembers, not whether it learned, so it
is counted and left out. With no window left, or no ``judging.pt`` (a run of an earlier
release), there is no verdict, and :attr:`PredictVerdict.reason` says why.

The run's own verdict (``metrics.json``) is read beside it (:mod:`moola.inference.run_verdict`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from moola.data.seen import seen_windows
from moola.data.splits import overlap_run, timeline
from moola.data.windows import OHLCWindows
from moola.errors import MoolaError
from moola.inference.core import features_for
from moola.inference.load import LoadedModel
from moola.inference.run_verdict import RunVerdict, run_verdict
from moola.inference.sources import PredictInput
from moola.models import JadeCompact
from moola.rundir.judging import Judging, load_judging
from moola.rundir.layout import JUDGING_NAME
from moola.tasks import TaskSet, make_tasks
from moola.verdict import BlockBootstrap, evaluate, judge_head, prior_losses, prior_window_losses
from moola.verdict.power import expected_half_widths, small_part_warning
from moola.verdict.summary import learned_count, summary_line

#: Windows the run never saw that a verdict needs at the least (one gives no interval).
MIN_JUDGED = 2


@dataclass
class PredictVerdict:
    """``moola predict``'s verdict on labelled windows, beside the run's own."""

    n_windows: int
    #: (N,) True for windows that share bars with the run's training or validation windows;
    #: None when the run recorded no bars (no ``judging.pt``).
    in_sample: np.ndarray | None
    run: RunVerdict
    #: Per head (judged windows only): ``loss``, ``baseline``, ``initial``, ``metrics``,
    #: ``learned`` and ``why``, as training's records. None: no verdict, see ``reason``.
    heads: dict[str, dict[str, Any]] | None = None
    reason: str | None = None
    #: ``{"kind", "text"}`` entries, as in ``metrics.json`` (too few judged windows).
    warnings: list[dict[str, str]] = field(default_factory=list)
    n_train: int | None = None  # the run's training windows (judging.pt)
    weights: str = "best"  # which of the run's weights were judged

    @property
    def n_in_sample(self) -> int | None:
        return None if self.in_sample is None else int(self.in_sample.sum())

    @property
    def n_judged(self) -> int:
        if self.heads is None or self.in_sample is None:
            return 0
        return int((~self.in_sample).sum())

    def counts(self) -> str:
        """``"12 judged (never seen by the run), 28 in-sample (not judged)"``."""
        if self.in_sample is None:
            return f"{self.n_windows} windows, none judged"
        out = self.n_windows - int(self.in_sample.sum())
        return f"{out} never seen by the run, {self.n_in_sample} in-sample (not judged)"

    def summary(self) -> str:
        """One line: predict's verdict (or why there is none) and the run's own."""
        here = (
            f"no verdict here: {self.reason}"
            if self.heads is None
            else summary_line(
                self.heads,
                n_train="?" if self.n_train is None else self.n_train,
                n_held=self.n_judged,
                held="never-seen",
                weights=f"{self.weights} weights",
            )
        )
        run = (
            f"the run's own verdict: {learned_count(self.run.heads)} ({self.run.source})"
            if self.run.known
            else f"the run's own verdict is unknown: {self.run.source}"
        )
        return f"{here}; {run}"

    def chart_line(self) -> str:
        """The chart's title line: both verdicts, short, and the in-sample count."""
        if self.heads is None:
            here = "no verdict here" + (
                " (in-sample)" if self.in_sample is not None and self.in_sample.any() else ""
            )
        else:
            here = f"verdict on {self.n_judged} never-seen windows: {learned_count(self.heads)}"
        run = learned_count(self.run.heads) if self.run.known else "unknown"
        text = f"{here} | the run's own verdict (validation): {run}"
        if self.in_sample is not None and self.in_sample.any():
            text += f" | {int(self.in_sample.sum())} in-sample windows not judged"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what the parquet file's metadata holds (``moola.verdict``)."""
        return {
            "n_windows": self.n_windows,
            "n_in_sample": self.n_in_sample,
            "n_judged": self.n_judged,
            "verdict": None
            if self.heads is None
            else {
                name: {"learned": h["learned"], "why": h["why"], "metrics": h["metrics"]}
                for name, h in self.heads.items()
            },
            "reason": self.reason,
            "summary": self.summary(),
            "warnings": self.warnings,
            "run_verdict": self.run.to_dict(),
        }


def assess(loaded: LoadedModel, data: PredictInput) -> PredictVerdict:
    """:func:`score` for labelled data; for a raw series no verdict (nothing to judge by),
    but its windows are still checked against the bars the run saw."""
    if data.labelled is not None:
        return score(loaded, data.labelled)
    judging = _judging(loaded)
    in_sample = None if isinstance(judging, str) else seen_windows(judging.seen_bars, data.ohlc)
    return PredictVerdict(
        len(data),
        in_sample,
        run_verdict(loaded),
        reason="no labels to judge by (a raw series)",
        weights=loaded.weights,
    )


def _judging(loaded: LoadedModel) -> Judging | str:
    """The run's ``judging.pt``, or why there is none to use."""
    path = loaded.path.parent / JUDGING_NAME
    if not path.is_file():
        return (
            f"no {JUDGING_NAME} beside {loaded.path.name} (a run of an earlier moola): the "
            "priors of its training split, its initial weights and the bars it trained on are "
            "unknown, so a verdict here would not be training's; retrain the run to get one"
        )
    try:
        return load_judging(path)
    except MoolaError as exc:
        return str(exc)


def score(loaded: LoadedModel, windows: OHLCWindows) -> PredictVerdict:
    """Judge ``windows`` (labelled) as training judged its validation windows (module
    docstring), beside the run's own verdict."""
    run = run_verdict(loaded)
    n = len(windows)
    judging = _judging(loaded)
    if isinstance(judging, str):
        return PredictVerdict(n, None, run, reason=judging, weights=loaded.weights)
    in_sample = seen_windows(judging.seen_bars, windows.ohlc)
    unseen = np.flatnonzero(~in_sample)
    if len(unseen) < MIN_JUDGED:
        what = "all" if len(unseen) == 0 else f"{n - len(unseen)} of"
        return PredictVerdict(
            n,
            in_sample,
            run,
            weights=loaded.weights,
            reason=f"{what} {n} windows share bars with the data the run trained or validated "
            "on (in-sample: how well it remembers, not whether it learned); judge it on bars "
            "it never saw",
        )
    return judge_unseen(loaded, judging, windows.subset(unseen), in_sample, run)


def judge_unseen(
    loaded: LoadedModel,
    judging: Judging,
    unseen: OHLCWindows,
    in_sample: np.ndarray,
    run: RunVerdict,
) -> PredictVerdict:
    """The training verdict on windows the run never saw (all of ``unseen``)."""
    tasks = _tasks(loaded)
    targets = tasks.build_targets(
        torch.from_numpy(unseen.label.copy()),
        torch.from_numpy(unseen.expansion_start.copy()),
        torch.from_numpy(unseen.expansion_end.copy()),
        unseen.window,
    )
    x = features_for(loaded, unseen.ohlc)
    boot = _bootstrap(unseen, judging.seed)
    priors = judging.priors
    final = evaluate(loaded.model, x, targets, tasks, None, bootstrap=boot, priors=priors)
    initial = evaluate(_initial_model(loaded, judging), x, targets, tasks, None, priors=priors)
    prior = prior_losses(tasks, priors, targets)
    heads = {}
    for name in tasks.names:
        record = judge_head(
            name,
            initial=initial.losses[name],
            final=final.losses[name],
            prior=prior[name],
            metrics=final.metrics.get(name, {}),
        )
        heads[name] = {"loss": record["final"], **record}
    prior_per_window = {
        k: v.numpy() for k, v in prior_window_losses(tasks, priors, targets).items()
    }
    warning = small_part_warning(
        "set of windows the run never saw",
        len(unseen),
        expected_half_widths(prior_per_window, boot),
        advice="predict on more labelled bars the run never saw",
    )
    return PredictVerdict(
        len(in_sample),
        in_sample,
        run,
        heads=heads,
        warnings=[] if warning is None else [warning],
        n_train=judging.n_train,
        weights=loaded.weights,
    )


def _tasks(loaded: LoadedModel) -> TaskSet:
    return make_tasks(
        countdown_units=loaded.config.get("countdown_units", "normalized"),
        priorities=loaded.config.get("priorities"),
    )


def _bootstrap(windows: OHLCWindows, seed: int) -> BlockBootstrap:
    """The verdict's block bootstrap over ``windows`` in time order (series by series)."""
    starts, series = timeline(windows)
    k = windows.window
    key = series * (int(starts.max()) + 2 * k) + starts
    runs = [overlap_run(starts[series == s], k) for s in np.unique(series)]
    return BlockBootstrap(np.argsort(key, kind="stable"), overlap_run=max(runs), seed=seed)


def _initial_model(loaded: LoadedModel, judging: Judging) -> JadeCompact:
    """The run's initial weights in a model of the loaded one's shape."""
    from moola.rundir.checkpoint import check_model_shapes

    model = JadeCompact(loaded.model.config)
    check_model_shapes(judging.initial_weights, model, loaded.path.parent / JUDGING_NAME)
    model.load_state_dict(judging.initial_weights)
    return model.eval()


def score_table_rows(verdict: PredictVerdict) -> tuple[list[str], list[list[str]]]:
    """Per head: loss ÷ prior [95% CI], the metric, predict's verdict and the run's own."""
    from moola.report import metric_text, ratio_text, verdict_text

    header = [
        "head",
        "loss / prior [95% CI]",
        "metric (prior of the run's training split)",
        f"verdict here ({verdict.n_judged} windows never seen by the run)",
        "the run's own verdict (validation)",
    ]
    names = list(verdict.heads) if verdict.heads is not None else list(_tasks_names(verdict))
    rows = []
    for name in names:
        run = verdict.run.word(name)
        if verdict.heads is None:
            rows.append([name, "-", "-", "not judged (see below)", run])
            continue
        h = verdict.heads[name]
        rows.append(
            [
                name,
                ratio_text(h["loss"], h["baseline"], h["metrics"]),
                metric_text(name, h["metrics"]),
                verdict_text(h),
                run,
            ]
        )
    return header, rows


def _tasks_names(verdict: PredictVerdict) -> list[str]:
    from moola.tasks import TASK_NAMES

    return list(verdict.run.heads) if verdict.run.heads else list(TASK_NAMES)
