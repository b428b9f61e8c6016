"""``moola predict``: parse, predict every window, print the table and the verdict, write
the parquet and the chart."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from moola.cli.common import add_command, say
from moola.errors import ConfigError

#: Windows drawn by ``--plot`` (the newest ones).
PLOT_WINDOWS = 4


def add_parser(sub: Any) -> None:
    from moola.data.labeling import LabelRule

    parser = add_command(
        sub,
        "predict",
        run,
        help="predict windows of new data with a trained run (table, metrics, chart)",
    )
    parser.add_argument("run", metavar="RUN_OR_CHECKPOINT", help="run folder or checkpoint file")
    parser.add_argument(
        "--data",
        required=True,
        help="a bar series (CSV/parquet with open, high, low, close), or labelled windows as "
        "train --data takes them (then per-head metrics and the verdict are printed)",
    )
    parser.add_argument("--out", required=True, help="output .parquet, one row per window")
    parser.add_argument(
        "--weights", choices=["best", "final"], default="best", help="default best (best.pt)"
    )
    stride = LabelRule().stride
    parser.add_argument(
        "--stride",
        type=int,
        help=f"bars between windows cut from a raw series (default {stride}); labelled windows "
        "are predicted as they were cut",
    )
    parser.add_argument("--plot", metavar="PNG", help="draw the newest windows as candlesticks")
    parser.add_argument(
        "--plot-windows",
        type=int,
        help=f"windows --plot draws, the newest; default {PLOT_WINDOWS}",
    )


def run(args: argparse.Namespace) -> int:
    from moola.inference.core import predict_input, prepare
    from moola.inference.load import load_model
    from moola.inference.score import assess
    from moola.inference.sources import DEFAULT_STRIDE
    from moola.inference.table import write_predictions
    from moola.outfile import check_out_file

    out = check_out_file(args.out, ".parquet")
    plot = check_out_file(args.plot, ".png", "--plot") if args.plot else None
    if args.plot_windows is not None and plot is None:
        raise ConfigError("--plot-windows sets how many windows --plot draws; add --plot PNG")
    n_plot = PLOT_WINDOWS if args.plot_windows is None else args.plot_windows
    if n_plot < 1:
        raise ConfigError(f"--plot-windows must be >= 1, got {n_plot}")
    loaded = load_model(args.run, weights=args.weights)
    data = prepare(loaded, args.data, stride=DEFAULT_STRIDE if args.stride is None else args.stride)
    if data.labelled is not None and args.stride is not None:
        raise ConfigError(
            f"--stride cuts a raw bar series, but {args.data} holds labelled windows, which "
            "are predicted as they were cut; drop --stride (or pass the raw series)"
        )
    pred = predict_input(loaded, data)
    say(
        "predict",
        f"{len(pred)} windows of {loaded.window} bars from {args.data}, "
        f"{loaded.weights} weights of {loaded.path} (step {loaded.step}), features "
        f"{loaded.feature_set} ({loaded.n_features})",
    )
    verdict = assess(loaded, data)
    if data.labelled is not None:
        print_verdict(verdict, len(pred), loaded)
    elif verdict.n_in_sample:
        say(
            "predict",
            f"warning: {verdict.n_in_sample} of {len(pred)} windows share bars with the data "
            "the run trained or validated on (column in_sample): their predictions are "
            "remembered, not learned",
        )
    print(newest_line(pred), file=sys.stderr)
    write_predictions(
        pred, out, data.labelled, in_sample=verdict.in_sample, verdict=verdict.to_dict()
    )
    print(f"wrote {out}", file=sys.stderr)
    if plot is not None:
        from moola.inference.plot import plot_windows

        plot_windows(
            pred,
            data,
            plot,
            n=n_plot,
            verdict_line=verdict.chart_line() if data.labelled is not None else None,
            in_sample=verdict.in_sample,
        )
        print(f"wrote {plot}", file=sys.stderr)
    return 0


def print_verdict(verdict: Any, n: int, loaded: Any) -> None:
    """The table of both verdicts, why there is none here, the warnings and the summary."""
    from moola.inference.predict_verdict import score_table_rows
    from moola.report import print_table

    header, rows = score_table_rows(verdict)
    print_table(
        f"moola predict — {n} labelled windows: {verdict.counts()}; {loaded.weights} weights "
        f"(step {loaded.step}), priors of the run's training split",
        header,
        rows,
    )
    if verdict.reason is not None:
        say("predict", f"no verdict: {verdict.reason}")
    for warning in verdict.warnings:
        say("predict", f"warning: {warning['text']}")
    print(f"summary: {verdict.summary()}")


def newest_line(pred: Any) -> str:
    """The last window in one line, with a reminder of what it means in time."""
    from moola.data.labeling import LabelRule

    i = len(pred) - 1
    where = (
        ""
        if pred.start_bar is None
        else f" (series bars {pred.start_bar[i]}..{pred.start_bar[i] + pred.window - 1})"
    )
    probs = ", ".join(f"{n} {p:.2f}" for n, p in zip(pred.label_names, pred.type_prob[i]))
    return (
        f"last window{where}: {probs}; expansion at window bars "
        f"{pred.span_start[i]}..{pred.span_end[i]} — a description of the past: the labels "
        f"end the expansion at least {LabelRule().aftermath} bars before the window's end"
    )
