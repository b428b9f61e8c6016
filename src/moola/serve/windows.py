"""A request's windows in, the JSON answer out: what the worker thread does per request.

The schema has already checked the shape and that every price is a finite number > 0;
here the bars are checked as moola checks all bars (``validate_ohlc``: high >= low, high
>= max(open, close), low <= min(open, close)), so an impossible bar is a 422 naming its
window and bar instead of features built from nonsense. The answer is serialised here too,
off the event loop.
"""

from __future__ import annotations

import logging

import numpy as np

from moola.data.windows import WindowValidationError, validate_ohlc
from moola.errors import MoolaError
from moola.inference.predictions import Predictions
from moola.serve.backends import Backend
from moola.serve.errors import RequestProblem, bad_bar, located
from moola.serve.schemas import BatchPrediction, WindowPrediction

log = logging.getLogger("moola.serve")


def predict_windows(backend: Backend, windows: list[list[list[float]]], field: str) -> Predictions:
    """Checked predictions for the request's windows; ``field`` names them in errors
    (``"features"``: one window, ``"windows"``: a batch)."""
    ohlc = np.asarray(windows, dtype=np.float64)
    try:
        validate_ohlc(ohlc)
    except WindowValidationError as exc:
        raise RequestProblem(422, [bad_bar(exc, field)]) from None
    try:
        pred = backend.predict(ohlc)
    except MoolaError as exc:
        raise RequestProblem(422, [located("invalid", ["body", field], str(exc))]) from None
    check_finite(pred, field)
    return pred


def check_finite(pred: Predictions, field: str) -> None:
    """A non-finite output cannot be sent as JSON; name the window instead of failing."""
    outputs = [pred.type_prob, pred.span_prob, pred.countdown]
    bad = ~np.isfinite(pred.pointer_center) | ~np.isfinite(pred.pointer_length)
    for values in outputs:
        bad |= ~np.isfinite(values).all(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        log.warning("non-finite model outputs for window %d of a request", i)
        loc: list[str | int] = ["body", field] + ([i] if field == "windows" else [])
        where = f"window {i}" if field == "windows" else "the window"
        msg = (
            f"the model's outputs for {where} are not finite: its prices are outside what "
            "the features can represent"
        )
        raise RequestProblem(422, [located("outputs_not_finite", loc, msg)])


def answer_one(backend: Backend, features: list[list[float]]) -> bytes:
    pred = predict_windows(backend, [features], "features")
    return WindowPrediction.of(pred, 0).model_dump_json().encode()


def answer_batch(backend: Backend, windows: list[list[list[float]]]) -> bytes:
    pred = predict_windows(backend, windows, "windows")
    answer = BatchPrediction(predictions=[WindowPrediction.of(pred, i) for i in range(len(pred))])
    return answer.model_dump_json().encode()
