"""``moola export``: write a trained run as an ONNX graph."""

from __future__ import annotations

import argparse
from typing import Any

from moola.cli.common import add_command, say


def add_parser(sub: Any) -> None:
    parser = add_command(
        sub, "export", run, help="export a trained run to ONNX (pip install 'moola[export]')"
    )
    parser.add_argument("run", metavar="RUN_OR_CHECKPOINT", help="run folder or checkpoint file")
    parser.add_argument("--out", required=True, help="output .onnx file")
    parser.add_argument("--weights", choices=["best", "final"], default="best")


def run(args: argparse.Namespace) -> int:
    from moola.inference.export import export_onnx
    from moola.inference.load import load_model
    from moola.outfile import check_out_file

    out = check_out_file(args.out, ".onnx")
    loaded = load_model(args.run, weights=args.weights)
    export_onnx(loaded, out)
    say(
        "export",
        f"wrote {out} ({loaded.weights} weights, step {loaded.step}; input "
        f"'features' (batch, {loaded.window}, {loaded.n_features}) built with feature set "
        f"{loaded.feature_set})",
    )
    return 0
