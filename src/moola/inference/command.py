"""``moola predict`` and ``moola export``: argument parsing and printing, nothing else.

``cli.py`` calls :func:`add_parsers` and, for these commands, ``args.handler(args)``; every
bad input is a :class:`~moola.errors.MoolaError` that the CLI prints as one line (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from moola.data.labeling import LabelRule
from moola.errors import ConfigError
from moola.outfile import check_out_file

#: Windows drawn by ``--plot`` (the newest ones).
PLOT_WINDOWS = 4


def add_parsers(sub: Any) -> None:
    """Register ``predict`` and ``export`` on the CLI's subparsers."""
    predict = sub.add_parser(
        "predict", help="predict windows of new data with a trained run (table, metrics, chart)"
    )
    predict.add_argument("run", metavar="RUN_OR_CHECKPOINT", help="run folder or checkpoint file")
    predict.add_argument(
        "--data",
        required=True,
        help="a bar series (CSV/parquet with open, high, low, close), or labelled windows as "
        "train --data takes them (then per-head metrics and the verdict are printed)",
    )
    predict.add_argument("--out", required=True, help="output .parquet, one row per window")
    predict.add_argument(
        "--weights", choices=["best", "final"], default="best", help="default best (best.pt)"
    )
    predict.add_argument(
        "--stride", type=int, default=15, help="bars between windows cut from a series; default 15"
    )
    predict.add_argument("--plot", metavar="PNG", help="draw the newest windows as candlesticks")
    predict.add_argument(
        "--plot-windows",
        type=int,
        default=PLOT_WINDOWS,
        help=f"windows drawn; default {PLOT_WINDOWS}",
    )
    predict.set_defaults(func=run_predict)

    export = sub.add_parser(
        "export", help="export a trained run to ONNX (pip install 'moola[export]')"
    )
    export.add_argument("run", metavar="RUN_OR_CHECKPOINT", help="run folder or checkpoint file")
    export.add_argument("--out", required=True, help="output .onnx file")
    export.add_argument("--weights", choices=["best", "final"], default="best")
    export.set_defaults(func=run_export)


def run_predict(args: argparse.Namespace) -> int:
    from moola.inference.core import predict_input, prepare
    from moola.inference.load import load_model
    from moola.inference.table import write_predictions

    out = check_out_file(args.out, ".parquet")
    plot = check_out_file(args.plot, ".png", "--plot") if args.plot else None
    if args.plot_windows < 1:
        raise ConfigError(f"--plot-windows must be >= 1, got {args.plot_windows}")
    loaded = load_model(args.run, weights=args.weights)
    data = prepare(loaded, args.data, stride=args.stride)
    pred = predict_input(loaded, data)
    print(
        f"moola predict: {len(pred)} windows of {loaded.window} bars from {args.data}, "
        f"{loaded.weights} weights of {loaded.path} (step {loaded.step}), features "
        f"{loaded.feature_set} ({loaded.n_features})",
        file=sys.stderr,
    )
    if data.labelled is not None:
        from moola.inference.score import score, score_table_rows
        from moola.report import print_table

        header, rows = score_table_rows(score(loaded, data.labelled))
        print_table(
            f"moola predict — {len(pred)} labelled windows, {loaded.weights} weights "
            "(constant fitted on these windows)",
            header,
            rows,
        )
    print(newest_line(pred), file=sys.stderr)
    write_predictions(pred, out, data.labelled)
    print(f"wrote {out}", file=sys.stderr)
    if plot is not None:
        from moola.inference.plot import plot_windows

        plot_windows(pred, data, plot, n=args.plot_windows)
        print(f"wrote {plot}", file=sys.stderr)
    return 0


def newest_line(pred: Any) -> str:
    """The last window in one line, with a reminder of what it means in time."""
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


def run_export(args: argparse.Namespace) -> int:
    from moola.inference.export import export_onnx
    from moola.inference.load import load_model

    out = check_out_file(args.out, ".onnx")
    loaded = load_model(args.run, weights=args.weights)
    export_onnx(loaded, out)
    print(
        f"moola export: wrote {out} ({loaded.weights} weights, step {loaded.step}; input "
        f"'features' (batch, {loaded.window}, {loaded.n_features}) built with feature set "
        f"{loaded.feature_set})",
        file=sys.stderr,
    )
    return 0
