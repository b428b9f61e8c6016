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

The run's own verdict (``metrics.json``) is read beside it (:mod:`moola.inference.run_verdict`);
what the two say, and how, is :mod:`moola.inference.predict_verdict`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from moola.data.seen import seen_windows
from moola.data.splits import overlap_run, timeline
from moola.data.windows import OHLCWindows
from moola.errors import MoolaError
from moola.inference.core import inputs_at
from moola.inference.load import LoadedModel
from moola.inference.predict_verdict import PredictVerdict
from moola.inference.run_verdict import RunVerdict, run_verdict
from moola.inference.sources import PredictInput, labelled_input
from moola.models import JadeCompact
from moola.rundir.judging import Judging, load_judging
from moola.rundir.layout import JUDGING_NAME
from moola.tasks import TaskSet, make_tasks
from moola.verdict import (
    BlockBootstrap,
    evaluate_chunks,
    judge_head,
    label_prior_window_losses,
)
from moola.verdict.power import expected_half_widths, small_part_warning

#: Windows the run never saw that a verdict needs at the least (one gives no interval).
MIN_JUDGED = 2
#: Windows scored at a time: training's validation chunk
#: (``moola.train.objectives.base.EVAL_CHUNK``), so the same windows score the same.
SCORE_CHUNK = 4096


def assess(loaded: LoadedModel, data: PredictInput) -> PredictVerdict:
    """:func:`score` for labelled data; for a raw series no verdict (nothing to judge by),
    but its windows are still checked against the bars the run saw."""
    if data.labelled is not None:
        return score(loaded, data)
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


def score(loaded: LoadedModel, data: PredictInput | OHLCWindows) -> PredictVerdict:
    """Judge the labelled windows of ``data`` as training judged its validation windows
    (module docstring), beside the run's own verdict. Their inputs are the model's: drawn
    from the store they lay out for a ``series``-inputs model (:func:`labelled_input`)."""
    if isinstance(data, OHLCWindows):
        data = labelled_input(data, inputs=loaded.inputs, feature_set=loaded.feature_set)
    windows = data.labelled
    if windows is None:
        raise ValueError("score needs labelled windows (a labelled --data source)")
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
    return judge_unseen(loaded, judging, data, unseen, in_sample, run)


def judge_unseen(
    loaded: LoadedModel,
    judging: Judging,
    data: PredictInput,
    unseen: np.ndarray,
    in_sample: np.ndarray,
    run: RunVerdict,
) -> PredictVerdict:
    """The training verdict on the windows ``unseen`` of ``data`` (labelled), which the run
    never saw; their inputs and targets come ``SCORE_CHUNK`` windows at a time."""
    windows = data.labelled
    assert windows is not None
    tasks = _tasks(loaded)
    k = windows.window
    labels = np.stack([windows.label, windows.expansion_start, windows.expansion_end], axis=1)
    labels = labels[unseen]

    def chunks() -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        for a in range(0, len(unseen), SCORE_CHUNK):
            rows = torch.from_numpy(labels[a : a + SCORE_CHUNK].astype(np.int64))
            targets = tasks.build_targets(rows[:, 0], rows[:, 1], rows[:, 2], k)
            yield inputs_at(loaded, data, unseen[a : a + SCORE_CHUNK]), targets

    boot = _bootstrap(windows.subset(unseen), judging.seed)
    priors = judging.priors
    final = evaluate_chunks(loaded.model, chunks(), tasks, priors, window=k, bootstrap=boot)
    initial = evaluate_chunks(_initial_model(loaded, judging), chunks(), tasks, priors, window=k)
    prior_window = label_prior_window_losses(tasks, priors, labels, k)
    heads = {}
    for name in tasks.names:
        record = judge_head(
            name,
            initial=initial.losses[name],
            final=final.losses[name],
            prior=float(prior_window[name].mean()),
            metrics=final.metrics.get(name, {}),
        )
        heads[name] = {"loss": record["final"], **record}
    warning = small_part_warning(
        "set of windows the run never saw",
        len(unseen),
        expected_half_widths({name: v.numpy() for name, v in prior_window.items()}, boot),
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
