"""The HTTP contract of ``moola serve``: pydantic models for requests, responses and errors.

They are the OpenAPI schema at ``/docs``, so a client reads the window length, the column
order and the batch limit there. The request models depend on the served model's window
length and the server's batch limit, so :func:`request_models` builds them at startup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from moola.data.files import PRICE_COLUMNS
from moola.inference.predictions import Predictions

#: One price: a finite positive JSON number (a string, a boolean, NaN or ±Infinity is a 422).
Price = Annotated[
    float,
    Field(strict=True, allow_inf_nan=False, gt=0, description="a finite price > 0"),
]
#: One bar, in the parquet schema's column order.
Bar = Annotated[
    list[Price],
    Field(
        min_length=len(PRICE_COLUMNS),
        max_length=len(PRICE_COLUMNS),
        description=f"one bar: [{', '.join(PRICE_COLUMNS)}]",
    ),
]


class PredictRequestBase(BaseModel):
    """``POST /predict``: one window of bars, oldest first."""

    model_config = ConfigDict(extra="forbid")
    features: list[list[float]]


class BatchRequestBase(BaseModel):
    """``POST /predict/batch``: several windows, each as ``features`` of ``/predict``."""

    model_config = ConfigDict(extra="forbid")
    windows: list[list[list[float]]]


@dataclass(frozen=True)
class RequestModels:
    """The request bodies for one served window length and batch limit."""

    single: type[PredictRequestBase]
    batch: type[BatchRequestBase]


def request_models(window: int, max_batch: int) -> RequestModels:
    """Request models whose schema states the window length and the batch limit, so pydantic
    rejects a wrong bar count or an oversized batch before any work, naming the field."""
    columns = ", ".join(PRICE_COLUMNS)
    bars = f"exactly {window} bars, oldest first, each [{columns}]"

    class PredictRequest(PredictRequestBase):
        __doc__ = PredictRequestBase.__doc__
        features: Annotated[
            list[Bar], Field(min_length=window, max_length=window, description=bars)
        ]

    class BatchRequest(BatchRequestBase):
        __doc__ = BatchRequestBase.__doc__
        windows: Annotated[
            list[Annotated[list[Bar], Field(min_length=window, max_length=window)]],
            Field(
                min_length=1,
                max_length=max_batch,
                description=f"1 to {max_batch} windows (the server's --max-batch); {bars}",
            ),
        ]

    return RequestModels(single=PredictRequest, batch=BatchRequest)


class TypeHead(BaseModel):
    """The window's type: the most probable class and every class's probability."""

    label: str = Field(description="the most probable class")
    probabilities: dict[str, float] = Field(description="class name -> probability")


class PointersHead(BaseModel):
    """The expansion span the pointer head predicts, in bars of the window (0 = its first)."""

    start: int = Field(description="first bar of the span (inclusive)")
    end: int = Field(description="last bar of the span (inclusive)")
    center: float = Field(description="the span's centre, as a bar index")
    length: float = Field(description="end - start, in bars")


class BinaryHead(BaseModel):
    """Per bar, the probability of lying in the expansion span."""

    probability: list[float]
    in_span: list[bool] = Field(description="probability > 0.5")


class CountdownHead(BaseModel):
    """Per bar, the bars until the expansion starts (negative: since it started)."""

    bars: list[float]


class WindowPrediction(BaseModel):
    """Every head of one window, in natural units (bars and probabilities)."""

    type: TypeHead
    pointers: PointersHead
    binary: BinaryHead
    countdown: CountdownHead

    @classmethod
    def of(cls, pred: Predictions, i: int) -> WindowPrediction:
        """Window ``i`` of ``pred``; the numbers are ``moola.predict``'s, unrounded."""
        probs = pred.type_prob[i].tolist()
        return cls(
            type=TypeHead(
                label=pred.label_names[int(pred.type_label[i])],
                probabilities=dict(zip(pred.label_names, probs)),
            ),
            pointers=PointersHead(
                start=int(pred.span_start[i]),
                end=int(pred.span_end[i]),
                center=float(pred.pointer_center[i]),
                length=float(pred.pointer_length[i]),
            ),
            binary=BinaryHead(
                probability=pred.span_prob[i].tolist(), in_span=pred.span[i].tolist()
            ),
            countdown=CountdownHead(bars=pred.countdown[i].tolist()),
        )


class BatchPrediction(BaseModel):
    """One prediction per window, in the request's order."""

    predictions: list[WindowPrediction]


class HeadVerdict(BaseModel):
    """Whether a head learned, by the run's own rule (``metrics.json``); None: unknown."""

    learned: bool | None
    why: str


class Verdict(BaseModel):
    """The run's verdict on the served weights, per head."""

    known: bool
    source: str = Field(description="where it was read, or why it is unknown")
    heads: dict[str, HeadVerdict]


class ModelInfo(BaseModel):
    """What this server serves."""

    run: str = Field(description="the run folder")
    file: str = Field(description="the weights file")
    weights: str = Field(description="best (best.pt) or final (checkpoint.pt)")
    step: int = Field(description="the training step of these weights")
    backend: str = Field(description="torch or onnx (onnxruntime)")
    feature_set: str
    feature_names: list[str]
    window: int = Field(description="bars per window")
    columns: list[str] = Field(description="the columns of a bar, in order")
    label_names: list[str]
    max_batch: int = Field(description="windows per /predict/batch request at most")
    verdict: Verdict


class Health(BaseModel):
    """The server is up and its model is loaded."""

    status: str
    backend: str
    uptime_seconds: float


class ErrorItem(BaseModel):
    """One problem with a request: where (``loc``, ``field``, and the window, bar and column
    when it is about one) and what (``msg``)."""

    type: str
    loc: list[str | int]
    field: str = Field(description="the field, e.g. windows[2][17][1]")
    msg: str
    window: int | None = None
    bar: int | None = None
    column: str | None = None


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer has this body."""

    detail: list[ErrorItem]


#: The error answers every endpoint documents (schemathesis holds the server to them).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in [
        (400, "the body is not valid JSON"),
        (413, "the body is larger than a full batch can be"),
        (422, "a field is missing, malformed or out of range; detail names it"),
        (500, "a bug in moola (logged); never the request's fault"),
    ]
}
