"""The request pipeline in one pure ASGI middleware: request id, body limit, metrics, access log.

One layer, not one per concern: each ASGI layer is another coroutine call and another ``send``
wrapper on every request, and issue 14's two separate middlewares cost the ``/healthz``
yardstick 35-79 us of CPU a request (benchmarks/README.md). Per request this does one pass
over the headers, creates one object (``_Exchange``: the request's record for the logs, whose
bound ``send`` adds the id and notes the status; no closure), and for a body method one bound
``receive`` that counts the body. Pure ASGI rather than BaseHTTPMiddleware, which wraps every
request in extra tasks and streams. The route template comes from ``scope["route"]``, which the
router sets on the shared scope once it matched, so nothing is parsed twice.
"""

from __future__ import annotations

import itertools
import logging
import os
from time import perf_counter
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recsys.api.limits import BodyTooLargeError, refuse_too_large
from recsys.service.logs import ACCESS_FIELD, ACCESS_LOGGER
from recsys.service.metrics import observe_request
from recsys.service.request_context import CURRENT_REQUEST, RequestRecord

HEADER = b"x-request-id"
MAX_ID_LENGTH = 128
UNMATCHED = "unmatched"
# Probes succeed every few seconds from every kubelet and scraper: their access lines are DEBUG
# (RECSYS_LOG_LEVEL=DEBUG shows them); a failing probe (status >= 400) is INFO like any request.
PROBES = frozenset({"/healthz", "/readyz", "/ping", "/metrics"})
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})

# Generated ids: a random per-process prefix (distinct across workers and restarts) and a
# counter, cheaper than a uuid per request.
_PREFIX = os.urandom(6).hex()
_counter = itertools.count(1)

_INTERNAL_ERROR = b'{"detail":"Internal Server Error"}'
_ACCESS_LINE = "%s %s %d %.2f ms"
_access = logging.getLogger(ACCESS_LOGGER)
_errors = logging.getLogger("recsys.api")


def sane_request_id(raw: bytes) -> str | None:
    """`raw` as an id when it is 1..128 printable ASCII characters without spaces, else None."""
    if not 0 < len(raw) <= MAX_ID_LENGTH or not all(0x21 <= b <= 0x7E for b in raw):
        return None
    return raw.decode("ascii")


def new_request_id() -> str:
    return f"{_PREFIX}-{next(_counter):x}"


class _Exchange(RequestRecord):
    """One request's record plus what answering it needs: the wrapped ``send`` and ``receive``."""

    __slots__ = ("_max_bytes", "_read", "_receive", "_send", "started")

    def __init__(self, request_id: str, scope: Scope, send: Send) -> None:
        super().__init__(request_id, scope["method"], scope["path"])
        self._send = send
        self.started = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.started = True
            message["headers"] = [
                *message.get("headers", ()),
                (HEADER, self.request_id.encode("ascii")),
            ]
        await self._send(message)

    def limit_body(self, receive: Receive, max_bytes: int) -> Receive:
        """``receive`` that counts the body and raises once it passes ``max_bytes``."""
        self._receive = receive
        self._max_bytes = max_bytes
        self._read = 0
        return self.receive

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._read += len(message.get("body", b""))
            if self._read > self._max_bytes:
                raise BodyTooLargeError(self._max_bytes)
        return message


class HotRoute(Protocol):
    """A route answered here, before the app's router, when ``parse`` recognises the request."""

    def parse(self, scope: Scope) -> Any | None:
        """What ``answer`` needs, or None: the app answers (recsys.api.hot)."""

    async def answer(self, parsed: Any, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the parsed request (setting ``scope["route"]``)."""


class RequestMiddleware:
    """Every HTTP answer: an X-Request-ID, a body limit, a metrics count and an access line."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, hot: HotRoute | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # A bodiless request it recognises skips the app's routing (recsys.api.hot).
        self.hot = hot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        raw_id = declared = None
        for name, value in scope["headers"]:
            if name == HEADER:
                if raw_id is None:  # the first one decides, as before
                    raw_id = value
            elif name == b"content-length":
                declared = value
        request_id = None if raw_id is None else sane_request_id(raw_id)
        exchange = _Exchange(request_id or new_request_id(), scope, send)
        token = CURRENT_REQUEST.set(exchange)
        try:
            if exchange.method in _BODILESS:
                hot = self.hot
                parsed = None if hot is None else hot.parse(scope)
                if parsed is None:
                    await self.app(scope, receive, exchange.send)
                else:
                    await hot.answer(parsed, scope, receive, exchange.send)  # type: ignore[union-attr]
            elif _declared_length(declared) > self.max_body_bytes:
                # Refused before the app runs or a byte of the body is read.
                await refuse_too_large(exchange.send, self.max_body_bytes)
            else:
                limited = exchange.limit_body(receive, self.max_body_bytes)
                await self.app(scope, limited, exchange.send)
        except BodyTooLargeError:
            # Read outside FastAPI's handlers (which answer it as JSON themselves): answer here
            # if nothing was sent yet, else there is no answer left to give.
            if exchange.started:
                raise
            await refuse_too_large(exchange.send, self.max_body_bytes)
        except Exception:
            # Logged here, inside the request, so the traceback carries its id; answered here
            # so the 500 carries the id header too. Not re-raised: the server would log the
            # same traceback again without the id (a response already started is cut off by
            # the server, which logs one line that it did not complete).
            _errors.exception("unhandled error answering %s %s", exchange.method, exchange.path)
            if not exchange.started:
                await exchange.send(_error_start())
                await send({"type": "http.response.body", "body": _INTERNAL_ERROR})
        finally:
            self._done(exchange, scope, start)
            CURRENT_REQUEST.reset(token)

    @staticmethod
    def _done(exchange: _Exchange, scope: Scope, start: float) -> None:
        seconds = perf_counter() - start
        route = scope.get("route")
        template = route.path if route is not None else UNMATCHED
        status = exchange.status
        observe_request(template, exchange.method, status, seconds)
        level = logging.DEBUG if template in PROBES and status < 400 else logging.INFO
        if _access.isEnabledFor(level):
            exchange.route = template
            exchange.latency_ms = round(seconds * 1000, 3)
            # makeRecord + handle is what Logger.log does, less finding the caller's frame and
            # file (a quarter of the line's cost; no format here prints them).
            args = (exchange.method, exchange.path, status, exchange.latency_ms)
            record = _access.makeRecord(ACCESS_LOGGER, level, __file__, 0, _ACCESS_LINE, args, None)
            setattr(record, ACCESS_FIELD, exchange)
            _access.handle(record)


def _declared_length(raw: bytes | None) -> int:
    if raw is None:
        return 0
    try:
        return int(raw)
    except ValueError:
        return 0  # the server refuses a malformed one before the app sees it


def _error_start() -> Message:
    # A fresh message each time: ``send`` adds this request's id to its headers.
    return {
        "type": "http.response.start",
        "status": 500,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_INTERNAL_ERROR)).encode()),
        ],
    }
