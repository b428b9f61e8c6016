"""A bound on the request body, so no request can make the server read (and parse) more than
a full batch could take: an oversized body is a 413 before it is read.

The batch limit itself (``--max-batch``) is in the request schema (a 422 naming it); this
bound only stops bodies far beyond it, such as a gigabyte of JSON, which pydantic would
otherwise hold in memory before counting the windows.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moola.serve.errors import error_body
from moola.serve.schemas import ErrorItem

#: JSON characters per price at most, written the longest way (``-1.2345678901234567e-308,``)
#: with room for spaces and indentation.
BYTES_PER_PRICE = 48
#: Room for everything else in a body (keys, brackets, a pretty-printer's newlines).
SLACK = 1 << 20


def body_limit(window: int, max_batch: int) -> int:
    """The largest body a full batch of ``max_batch`` windows of ``window`` bars can need."""
    return max_batch * window * 4 * BYTES_PER_PRICE + SLACK


def too_large(limit: int) -> ErrorItem:
    return ErrorItem(
        type="body_too_large",
        loc=["body"],
        field="body",
        msg=f"the body is over {limit} bytes, more than a full batch (--max-batch) can need",
    )


class BodyLimitMiddleware:
    """413 for a body over ``limit`` bytes: by its Content-Length at once, or as it streams."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await self.refuse(send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:  # FastAPI re-raises an HTTPException from here
                    raise HTTPException(413, too_large(self.limit).msg)
            return message

        await self.app(scope, limited, send)

    async def refuse(self, send: Send) -> None:
        body = json.dumps(error_body([too_large(self.limit)])).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
