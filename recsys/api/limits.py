"""One request-body limit for every route (RECSYS_MAX_BODY_BYTES): its error and its 413.

The request middleware (recsys.api.observe) applies it: a declared ``Content-Length`` over the
limit is a 413 at once, before the app runs or a byte of the body is read; a body without one
(chunked) is counted as it streams in and refused as soon as it passes the limit, so no body
bigger than the limit is ever held in memory. Requests of a method that carries no body (GET,
HEAD, OPTIONS) pass straight through: the read routes, and the ``/healthz`` yardstick, pay one
set lookup.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import Send


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


async def refuse_too_large(send: Send, max_bytes: int) -> None:
    """Answer 413 ``{"detail": ...}`` on ``send``, closing the connection."""
    body = json.dumps({"detail": too_large_detail(max_bytes)}).encode()
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
