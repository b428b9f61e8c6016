"""Every refusal as one JSON shape (:class:`~moola.serve.schemas.ErrorResponse`) that names
the field, and for a price the window, bar and column; and a bug as a JSON 500.

FastAPI's own 422 echoes the offending input back, and a NaN price (which Starlette's JSON
parser accepts as a literal) cannot be written as JSON: its default handler answers such a
request with a 500. These handlers never echo input.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moola.data.files import PRICE_COLUMNS
from moola.data.windows import WindowValidationError
from moola.serve.schemas import ErrorItem, ErrorResponse

log = logging.getLogger("moola.serve")


#: The ``type`` of an error item for Starlette's own refusals.
HTTP_TYPES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
}


class RequestProblem(Exception):
    """A request the server refuses after the schema accepted it (impossible bars); the app
    answers it with ``status`` and ``items``."""

    def __init__(self, status: int, items: list[ErrorItem]) -> None:
        super().__init__("; ".join(item.msg for item in items))
        self.status, self.items = status, items


def error_body(items: Sequence[ErrorItem]) -> dict[str, Any]:
    return ErrorResponse(detail=list(items)).model_dump(mode="json")


def field_name(loc: Sequence[str | int]) -> str:
    """``("body", "windows", 2, 17, 1)`` -> ``"windows[2][17][1]"``."""
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def located(type_: str, loc: Sequence[str | int], msg: str) -> ErrorItem:
    """An error item with the window, bar and column that ``loc`` points at, if any."""
    path = list(loc[1:] if loc and loc[0] == "body" else loc)
    window = bar = None
    column: str | None = None
    indices: list[int] = []
    if path and path[0] in ("features", "windows"):
        indices = [p for p in path[1:] if isinstance(p, int)]
        if path[0] == "windows":
            window, indices = (indices[0], indices[1:]) if indices else (None, [])
        bar = indices[0] if indices else None
        if len(indices) > 1 and 0 <= indices[1] < len(PRICE_COLUMNS):
            column = PRICE_COLUMNS[indices[1]]
    return ErrorItem(
        type=type_,
        loc=list(loc),
        field=field_name(loc),
        msg=msg,
        window=window,
        bar=bar,
        column=column,
    )


def bad_bar(exc: WindowValidationError, field: str) -> ErrorItem:
    """``validate_ohlc``'s error on the request's windows, located in the request.

    ``field`` is ``"features"`` (one window: its row is 0) or ``"windows"``.
    """
    if exc.row is None or exc.bar is None:  # not about one bar: the whole field
        return located("ohlc_invalid", ["body", field], str(exc))
    loc: list[str | int] = ["body", field, exc.row, exc.bar]
    if field == "features":
        loc = ["body", field, exc.bar]
        msg = f"bar {exc.bar}: {exc.problem}"
    else:
        msg = f"window {exc.row}, bar {exc.bar}: {exc.problem}"
    return located("ohlc_invalid", loc, msg)


def schema_errors(exc: RequestValidationError, *, window: int, max_batch: int) -> list[ErrorItem]:
    """pydantic's errors, without their input, with what the limit is where one was broken."""
    items = []
    for error in exc.errors():
        loc = [p if isinstance(p, (str, int)) else str(p) for p in error.get("loc", ())]
        type_, msg = str(error.get("type", "invalid")), str(error.get("msg", "invalid"))
        path = loc[1:] if loc and loc[0] == "body" else loc
        if type_ == "json_invalid":  # loc: ("body", character position)
            reason = (error.get("ctx") or {}).get("error") or "JSON decode error"
            at = f" at character {path[0]}" if path and isinstance(path[0], int) else ""
            loc, msg = ["body"], f"the body is not valid JSON: {reason}{at}"
        elif type_ in ("too_short", "too_long") and path == ["windows"]:
            msg += f" (1 to {max_batch} windows per request: the server's --max-batch)"
        elif type_ in ("too_short", "too_long") and (
            path == ["features"] or (len(path) == 2 and path[0] == "windows")
        ):
            msg += f" (the model reads windows of {window} bars)"
        item = located(type_, loc, msg)
        place = [
            f"{name} {value}"
            for name, value in [("window", item.window), ("bar", item.bar), ("", item.column)]
            if value is not None
        ]
        if place:  # e.g. "window 2, bar 17, high: Input should be a finite number"
            item.msg = f"{', '.join(p.strip() for p in place)}: {msg}"
        items.append(item)
    return items


def status_of(items: Sequence[ErrorItem]) -> int:
    """400 when the body is not JSON at all, else 422."""
    return 400 if any(item.type == "json_invalid" for item in items) else 422


def install_handlers(app: FastAPI, *, window: int, max_batch: int) -> None:
    """Answer every refusal, and every unexpected error, with an :class:`ErrorResponse`."""

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        items = schema_errors(exc, window=window, max_batch=max_batch)
        return JSONResponse(error_body(items), status_code=status_of(items))

    async def problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestProblem)
        return JSONResponse(error_body(exc.items), status_code=exc.status)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        type_ = HTTP_TYPES.get(exc.status_code, "http")
        item = ErrorItem(type=type_, loc=[], field="", msg=str(exc.detail))
        return JSONResponse(
            error_body([item]), status_code=exc.status_code, headers=dict(exc.headers or {})
        )

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(RequestProblem, problem)
    app.add_exception_handler(HTTPException, http_error)


class CatchAllMiddleware:
    """Any other exception is a bug: logged, answered with a JSON 500, and stopped here.

    Starlette's own last resort answers a 500 too, but then re-raises to uvicorn, which
    drops the client's keep-alive connection; stopped here, the connection stays usable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            log.exception("%s %s failed", scope["method"], scope["path"])
            if not started:
                body = JSONResponse(error_body([INTERNAL_ERROR]), status_code=500)
                await body(scope, receive, send)


#: The answer to a bug.
INTERNAL_ERROR = ErrorItem(
    type="internal",
    loc=[],
    field="",
    msg="internal error in moola serve (logged on the server); please report it",
)
