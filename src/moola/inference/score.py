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

import numpy as np
import torch

from moola.data.seen import seen_windows
from moola.data.splits import overlap_run, timeline
from moola.data.windows import OHLCWindows
from moola.errors import MoolaError
from moola.inference.core import features_for
from moola.inference.load import LoadedModel
from moola.inference.predict_verdict import PredictVerdict
from moola.inference.run_verdict import RunVerdict, run_verdict
from moola.inference.sources import PredictInput
from moola.models import JadeCompact
from moola.rundir.judging import Judging, load_judging
from moola.rundir.layout import JUDGING_NAME
from moola.tasks import TaskSet, make_tasks
from moola.verdict import BlockBootstrap, evaluate, judge_head, prior_losses, prior_window_losses
from moola.verdict.power import expected_half_widths, small_part_warning

#: Windows the run never saw that a verdict needs at the least (one gives no interval).
MIN_JUDGED = 2


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
