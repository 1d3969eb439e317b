"""Log lines of the serving process: one JSON object a line, or one readable text line.

``RECSYS_LOG_FORMAT=json`` (the container's) writes every record as one JSON line: ``time``
(ISO-8601 UTC, milliseconds), ``level`` (and ``severity``, the same, for Cloud Logging),
``logger``, ``message``, ``request_id`` while a request is answered, ``exception`` (the
traceback text) for errors. The API's access line (logger
``recsys.access``, one per request, written by recsys.api.observe) adds ``method``, ``route``
(the template), ``path``, ``status``, ``latency_ms``, ``user``, ``model``, ``version`` and
``fallback``. ``text`` (the default) says the same on one line:
``2026-12-03T15:02:11.327Z INFO recsys.access [3f2a9c81d0e4-1a] GET /users/1/recommendations
200 2.41 ms user=1 model=als version=... fallback=false``.

stdlib logging only: the formatters are plain ``logging.Formatter`` subclasses that uvicorn's
``log_config`` (a ``dictConfig``) names, so uvicorn's own lines come out in the same format.
The request id is stamped on each record when it is made (``install_request_ids``, which
``create_app`` calls), so it is the id of the request the line was written in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import orjson

from recsys.service.request_context import CURRENT_REQUEST, RequestRecord
from recsys.settings import LogFormat

ACCESS_LOGGER = "recsys.access"
# The field the access line's record carries (``logger.log(..., extra={ACCESS_FIELD: ...})``).
ACCESS_FIELD = "recsys_access"
# The record attribute install_request_ids stamps (prefixed: no clash with a library's extra=).
REQUEST_ID_FIELD = "recsys_request_id"
_UNSTAMPED = object()

# Client-controlled text (a path, a user id, in an access line or an error's message) must not
# start a fake line in the text format: control characters but the tab are written as escapes;
# a traceback follows the message on lines of its own. (JSON escapes them itself.)
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x09), *range(0x0A, 0x20), 0x7F, 0x85)}
_CONTROL |= {c: f"\\u{c:04x}" for c in (0x2028, 0x2029)}  # line breaks to str.splitlines too


def iso_time(created: float) -> str:
    """``created`` (a record's epoch seconds) as ISO-8601 UTC with milliseconds and a ``Z``."""
    # From whole milliseconds: `created - int(created)` loses the last digit to float error
    # (.327 comes out as .3269999...).
    seconds, millis = divmod(int(created * 1000), 1000)
    return f"{_utc_second(seconds)}.{millis:03d}Z"


@lru_cache(maxsize=8)
def _utc_second(seconds: int) -> str:
    # gmtime + strftime is a third of a line's formatting; lines come many a second.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def _access(record: logging.LogRecord) -> RequestRecord | None:
    access: RequestRecord | None = getattr(record, ACCESS_FIELD, None)
    return access


def _request_id(record: logging.LogRecord, access: RequestRecord | None) -> str | None:
    if access is not None:
        return access.request_id
    stamped: str | None | object = getattr(record, REQUEST_ID_FIELD, _UNSTAMPED)
    if stamped is _UNSTAMPED:  # made before install_request_ids: the id of now, if any
        current = CURRENT_REQUEST.get()
        return None if current is None else current.request_id
    return stamped if isinstance(stamped, str) else None


class _StampingFactory:
    """A ``LogRecord`` factory that stamps each record with the answering request's id."""

    def __init__(self, make: Callable[..., logging.LogRecord]) -> None:
        self.make = make

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.make(*args, **kwargs)
        current = CURRENT_REQUEST.get()
        setattr(record, REQUEST_ID_FIELD, None if current is None else current.request_id)
        return record


def install_request_ids() -> None:
    """Stamp every log record made from now on with the request id (idempotent).

    At creation, in the task that logs: a record formatted later (a queueing or buffering
    handler, pytest's capture) still carries the id of the request it was written in.
    """
    current = logging.getLogRecordFactory()
    if not isinstance(current, _StampingFactory):
        logging.setLogRecordFactory(_StampingFactory(current))


class JsonFormatter(logging.Formatter):
    """Each record as one JSON object on one line (orjson: escapes, never a raw newline)."""

    def format(self, record: logging.LogRecord) -> str:
        access = _access(record)
        line: dict[str, Any] = {
            "time": iso_time(record.created),
            "level": record.levelname,
            # The same again under the name Cloud Logging reads (GKE): without it every line
            # the container writes to stderr would be filed as an ERROR there.
            "severity": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _request_id(record, access)
        if request_id is not None:
            line["request_id"] = request_id
        if access is not None:
            line.update(
                method=access.method,
                route=access.route,
                path=access.path,
                status=access.status,
                latency_ms=access.latency_ms,
                user=access.user,
                model=access.model,
                version=access.version,
                fallback=access.fallback,
            )
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # default=str: a stray object in a message's fields must not lose the line.
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER [REQUEST_ID] MESSAGE`` on one line, then any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        access = _access(record)
        request_id = _request_id(record, access) or "-"
        message = _escaped(record.getMessage())
        if access is not None:
            message += _answer_fields(access)
        when = iso_time(record.created)
        text = f"{when} {record.levelname} {record.name} [{request_id}] {message}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return text


def _escaped(text: str) -> str:
    # isprintable first: str.translate through a dict costs ~2 us on a 40-character line, the
    # check ~0.1 us, and nearly every line has nothing to escape.
    return text if text.isprintable() else text.translate(_CONTROL)


def _answer_fields(access: RequestRecord) -> str:
    text = ""
    if access.user is not None:
        text += f" user={_escaped(access.user)}"
    if access.model is not None:
        text += f" model={access.model} version={access.version}"
    if access.fallback is not None:
        text += f" fallback={'true' if access.fallback else 'false'}"
    return text


def log_config(*, log_format: LogFormat, level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` (uvicorn's ``log_config``) for the serving process.

    One stderr handler in ``log_format`` for uvicorn's lines, the recsys loggers (access lines
    included) and, from WARNING up, any other library's (the root logger). uvicorn's own access
    log is off: ``recsys.access`` replaces it (``recsys serve`` also passes ``access_log=False``,
    so uvicorn does not even build its lines).
    """
    handler = ["default"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "default": {"()": f"{__name__}.process_formatter", "log_format": log_format}
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": handler, "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "recsys": {"handlers": handler, "level": level, "propagate": False},
        },
        "root": {"handlers": handler, "level": "WARNING"},
    }


def process_formatter(log_format: LogFormat) -> logging.Formatter:
    """The formatter of ``log_format``, after setting this process's logging up for it.

    A factory rather than a class because uvicorn applies ``log_config`` in each process it
    runs the app in (every worker is spawned, so module settings of the parent are gone): this
    is the one hook that runs in each. It turns Python warnings into log records (a library's
    ``warnings.warn`` would otherwise be a bare line among the JSON ones) and skips the
    per-record work no line here uses: ``LogRecord`` looks up the thread's and the
    multiprocessing process's names for every record, and the access log makes one a request.
    """
    logging.captureWarnings(True)
    logging.logThreads = False
    logging.logMultiprocessing = False
    return JsonFormatter() if log_format == "json" else TextFormatter()
