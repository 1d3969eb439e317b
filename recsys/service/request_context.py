"""The answering request's record, readable from any layer below the API.

The API's middleware (recsys.api.observe) sets one ``RequestRecord`` for the time of each HTTP
request: its id goes into every log line written while answering (recsys.service.logs), and the
routes note what they answered (user, model, version, fallback) for the request's access line.
One mutable object in one contextvar, rather than a contextvar per field: a route and the code
below it write into the object the middleware reads back when the answer is done, whatever
context copies (threads, tasks) happened in between. Outside a request (the CLI, background
tasks started at start-up) there is none.
"""

from __future__ import annotations

from contextvars import ContextVar

NO_REQUEST_ID = "-"


class RequestRecord:
    """What one request's access line says; the middleware fills the HTTP side, routes the rest."""

    __slots__ = (
        "fallback",
        "latency_ms",
        "method",
        "model",
        "path",
        "request_id",
        "route",
        "status",
        "user",
        "version",
    )

    def __init__(self, request_id: str, method: str, path: str) -> None:
        self.request_id = request_id
        self.method = method
        self.path = path
        self.route: str | None = None  # the matched template, once the answer is done
        self.status = 500  # until an answer starts: a request that never answers failed
        self.latency_ms = 0.0
        self.user: str | None = None
        self.model: str | None = None
        self.version: str | None = None
        self.fallback: bool | None = None


CURRENT_REQUEST: ContextVar[RequestRecord | None] = ContextVar("recsys_request", default=None)


def current_request_id() -> str:
    """The answering request's id, ``"-"`` outside a request."""
    record = CURRENT_REQUEST.get()
    return NO_REQUEST_ID if record is None else record.request_id


def note_user(user: int | str) -> None:
    """Record the user the request is for, before answering (so a 404 for them names them).

    Logged as the request named it, always as a string (one type per field for log stores).
    """
    record = CURRENT_REQUEST.get()
    if record is not None:  # None: called outside the API, no access line to put it in
        record.user = str(user)


def note_answer(*, model: str, version: str, fallback: bool | None = None) -> None:
    """Record which model and version answered, and whether popularity stood in (``fallback``)."""
    record = CURRENT_REQUEST.get()
    if record is not None:
        record.model = model
        record.version = version
        record.fallback = fallback
