"""One pure ASGI middleware: request ids and per-route request metrics.

Pure ASGI rather than BaseHTTPMiddleware, which wraps every request in extra tasks and streams
and costs /healthz a good share of its time. The route template is read from scope["route"],
which the router sets on the shared scope dict once it matched, so nothing is parsed twice.
"""

from __future__ import annotations

import itertools
import os
from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recsys.service.metrics import observe_request
from recsys.service.request_context import REQUEST_ID

HEADER = b"x-request-id"
MAX_ID_LENGTH = 128
UNMATCHED = "unmatched"

# Generated ids: a random per-process prefix (distinct across workers and restarts) and a
# counter, cheaper than a uuid per request.
_PREFIX = os.urandom(6).hex()
_counter = itertools.count(1)

_INTERNAL_ERROR = b'{"detail":"Internal Server Error"}'


def sane_request_id(raw: bytes) -> str | None:
    """`raw` as an id when it is 1..128 printable ASCII characters without spaces, else None."""
    if not 0 < len(raw) <= MAX_ID_LENGTH or not all(0x21 <= b <= 0x7E for b in raw):
        return None
    return raw.decode("ascii")


def new_request_id() -> str:
    return f"{_PREFIX}-{next(_counter):x}"


class ObserveMiddleware:
    """Gives every HTTP answer an X-Request-ID and counts it in the request metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == HEADER:
                request_id = sane_request_id(value)
                break
        if request_id is None:
            request_id = new_request_id()
        id_header = (HEADER, request_id.encode("ascii"))
        status = 500
        started = False
        start = perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Answer the 500 here so it carries the id too; the outer ServerErrorMiddleware
            # sees the answer started and only re-raises (uvicorn logs the traceback).
            if not started:
                await send_with_id(_error_start())
                await send({"type": "http.response.body", "body": _INTERNAL_ERROR})
            raise
        finally:
            route = scope.get("route")
            template = route.path if route is not None else UNMATCHED
            observe_request(template, scope["method"], status, perf_counter() - start)
            REQUEST_ID.reset(token)


def _error_start() -> Message:
    return {
        "type": "http.response.start",
        "status": 500,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_INTERNAL_ERROR)).encode()),
        ],
    }
