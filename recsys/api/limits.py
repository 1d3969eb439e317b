"""One request-body limit for every route: a pure ASGI middleware (RECSYS_MAX_BODY_BYTES).

A declared ``Content-Length`` over the limit is a 413 at once, before the app runs or a byte of
the body is read; a body without one (chunked) is counted as it streams in and refused as soon
as it passes the limit, so no body bigger than the limit is ever held in memory. Requests of a
method that carries no body (GET, HEAD, OPTIONS) pass straight through: the read routes, and
the ``/healthz`` yardstick, pay one set lookup.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})


def too_large_detail(max_bytes: int) -> str:
    """The 413's ``detail``: what the limit is and which setting sets it."""
    return f"request body over {max_bytes} bytes (RECSYS_MAX_BODY_BYTES)"


class BodyTooLargeError(HTTPException):
    """The body passed the limit while the app read it.

    An ``HTTPException``: FastAPI re-raises those from its body reading unchanged (any other
    error there becomes a 400), so the app's own handler answers the 413 as JSON.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=too_large_detail(max_bytes))


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with a 413 ``{"detail": ...}``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _BODILESS:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        counted = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal counted
            message = await receive()
            if message["type"] == "http.request":
                counted += len(message.get("body", b""))
                if counted > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLargeError:
            # Read outside FastAPI's handlers (a middleware reading the body): answer here if
            # nothing was sent yet, else there is no answer left to give.
            if started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": too_large_detail(self.max_bytes)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    # The unread body would be taken for the next request on this connection.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed one before the app sees it
    return None
