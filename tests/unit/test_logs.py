"""The serving process's log formats (recsys.service.logs): known records -> known lines."""

from __future__ import annotations

import json
import logging
import logging.config
import sys
import warnings
from collections.abc import Iterator

import pytest

from recsys.service.logs import (
    ACCESS_FIELD,
    JsonFormatter,
    TextFormatter,
    install_request_ids,
    iso_time,
    log_config,
)
from recsys.service.request_context import (
    CURRENT_REQUEST,
    RequestRecord,
    note_answer,
    note_user,
)
from recsys.settings import LogFormat

# 2026-12-03T15:02:11.327Z as a record's `created`.
CREATED = 1796310131.327


def record(
    message: str = "hello %s",
    args: tuple[object, ...] = ("world",),
    *,
    level: int = logging.INFO,
    name: str = "recsys.test",
    exc: bool = False,
) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    made = logging.LogRecord(name, level, __file__, 1, message, args, exc_info)
    made.created = CREATED
    return made


def access_record(access: RequestRecord) -> logging.LogRecord:
    made = record("%s %s %d %.2f ms", (access.method, access.path, access.status, 2.5))
    setattr(made, ACCESS_FIELD, access)
    return made


@pytest.fixture
def in_request() -> Iterator[RequestRecord]:
    current = RequestRecord("req-42", "GET", "/users/7/recommendations")
    token = CURRENT_REQUEST.set(current)
    try:
        yield current
    finally:
        CURRENT_REQUEST.reset(token)


def test_iso_time_is_utc_with_milliseconds() -> None:
    assert iso_time(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso_time(CREATED) == "2026-12-03T15:02:11.327Z"
    assert iso_time(59.9999) == "1970-01-01T00:00:59.999Z"  # truncated, never 60.000


def test_json_outside_a_request_has_no_request_id() -> None:
    line = JsonFormatter().format(record())
    assert json.loads(line) == {
        "time": "2026-12-03T15:02:11.327Z",
        "level": "INFO",
        "severity": "INFO",
        "logger": "recsys.test",
        "message": "hello world",
    }


def test_json_inside_a_request_carries_its_id(in_request: RequestRecord) -> None:
    line = json.loads(JsonFormatter().format(record(level=logging.WARNING)))
    assert line["request_id"] == "req-42"
    assert line["level"] == "WARNING"


def test_json_error_is_one_line_with_the_traceback(in_request: RequestRecord) -> None:
    text = JsonFormatter().format(record("failed\nbadly", (), level=logging.ERROR, exc=True))
    assert "\n" not in text
    line = json.loads(text)
    assert line["message"] == "failed\nbadly"
    assert line["request_id"] == "req-42"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].endswith("ValueError: boom")


def test_json_access_line_has_every_field(in_request: RequestRecord) -> None:
    note_user(7)
    note_answer(model="popularity", version="v1", fallback=True)
    in_request.route, in_request.status, in_request.latency_ms = "/users/{user_id}/x", 200, 2.5
    line = json.loads(JsonFormatter().format(access_record(in_request)))
    assert line == {
        "time": "2026-12-03T15:02:11.327Z",
        "level": "INFO",
        "severity": "INFO",
        "logger": "recsys.test",
        "message": "GET /users/7/recommendations 200 2.50 ms",
        "request_id": "req-42",
        "method": "GET",
        "route": "/users/{user_id}/x",
        "path": "/users/7/recommendations",
        "status": 200,
        "latency_ms": 2.5,
        "user": "7",
        "model": "popularity",
        "version": "v1",
        "fallback": True,
    }


def test_json_access_line_without_an_answer_says_null() -> None:
    access = RequestRecord("r-1", "GET", "/nope")
    access.route, access.status = "unmatched", 404
    line = json.loads(JsonFormatter().format(access_record(access)))
    assert line["request_id"] == "r-1"  # the access record's own id, inside a request or not
    assert [line[k] for k in ("user", "model", "version", "fallback")] == [None] * 4


def test_text_line_is_readable(in_request: RequestRecord) -> None:
    text = TextFormatter().format(record())
    assert text == "2026-12-03T15:02:11.327Z INFO recsys.test [req-42] hello world"
    assert TextFormatter().format(record(name="x")).endswith("x [req-42] hello world")


def test_text_outside_a_request_shows_a_dash() -> None:
    assert TextFormatter().format(record()) == (
        "2026-12-03T15:02:11.327Z INFO recsys.test [-] hello world"
    )


def test_text_access_line_lists_the_answer(in_request: RequestRecord) -> None:
    note_user("u001")
    note_answer(model="als", version="v9", fallback=False)
    in_request.status = 200
    assert TextFormatter().format(access_record(in_request)) == (
        "2026-12-03T15:02:11.327Z INFO recsys.test [req-42] GET /users/7/recommendations 200 "
        "2.50 ms user=u001 model=als version=v9 fallback=false"
    )


def test_text_access_line_of_a_404_names_the_user_only() -> None:
    access = RequestRecord("r-3", "GET", "/users/9/recommendations")
    access.status = 404
    note_user(9)  # outside a request: no effect
    access.user = "9"
    text = TextFormatter().format(access_record(access))
    assert text.endswith("[r-3] GET /users/9/recommendations 404 2.50 ms user=9")


def test_text_access_line_escapes_control_characters() -> None:
    # A client-chosen path or user id must not forge a second line.
    access = RequestRecord("r-2", "GET", "/a\nINFO fake")
    access.user, access.model, access.version = "x\ry", "als", "v1"
    text = TextFormatter().format(access_record(access))
    assert "\n" not in text and "\r" not in text
    assert "/a\\x0aINFO fake" in text and "user=x\\x0dy" in text


def test_text_message_escapes_control_characters_but_tabs() -> None:
    text = TextFormatter().format(record("path %s", ("/x\nERROR forged\tend",)))
    assert text.endswith("[-] path /x\\x0aERROR forged\tend")


def test_text_message_escapes_unicode_line_breaks() -> None:
    text = TextFormatter().format(record("%s", ("a\u2028b\u2029c\x85d",)))
    assert len(text.splitlines()) == 1
    assert text.endswith("a\\u2028b\\u2029c\\x85d")


def test_text_error_adds_the_traceback(in_request: RequestRecord) -> None:
    text = TextFormatter().format(record("failed", (), level=logging.ERROR, exc=True))
    first, *rest = text.splitlines()
    assert first == "2026-12-03T15:02:11.327Z ERROR recsys.test [req-42] failed"
    assert rest[0] == "Traceback (most recent call last):" and rest[-1] == "ValueError: boom"


def test_a_record_keeps_the_id_of_the_request_it_was_made_in() -> None:
    install_request_ids()
    install_request_ids()  # idempotent: one stamp, not a chain of wrappers
    factory = logging.getLogRecordFactory()
    assert not isinstance(getattr(factory, "make", None), type(factory))
    token = CURRENT_REQUEST.set(RequestRecord("made-in-1", "GET", "/"))
    try:
        made = logging.getLogger("recsys.test").makeRecord(
            "recsys.test", logging.INFO, __file__, 1, "inside", (), None
        )
    finally:
        CURRENT_REQUEST.reset(token)
    outside = logging.getLogger("recsys.test").makeRecord(
        "recsys.test", logging.INFO, __file__, 1, "outside", (), None
    )
    # Formatted after the request ended (as a buffering handler or pytest's capture would).
    assert json.loads(JsonFormatter().format(made))["request_id"] == "made-in-1"
    assert "request_id" not in json.loads(JsonFormatter().format(outside))


def test_note_answer_outside_a_request_does_nothing() -> None:
    note_user(1)  # no record: must not raise
    note_answer(model="als", version="v1")
    assert CURRENT_REQUEST.get() is None


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """The logging state a ``dictConfig`` changes, put back afterwards."""
    names = ("recsys", "uvicorn", "uvicorn.access", "uvicorn.error", "py.warnings")
    saved = {name: logging.getLogger(name).__dict__.copy() for name in names}
    root = logging.getLogger()
    root_handlers, root_level = root.handlers[:], root.level
    threads, multiprocessing = logging.logThreads, logging.logMultiprocessing
    try:
        yield
    finally:
        logging.captureWarnings(False)
        logging.logThreads, logging.logMultiprocessing = threads, multiprocessing
        for name, state in saved.items():
            logging.getLogger(name).__dict__.update(state)
        root.handlers[:] = root_handlers
        root.setLevel(root_level)


@pytest.mark.parametrize(
    ("log_format", "formatter"), [("json", JsonFormatter), ("text", TextFormatter)]
)
def test_log_config_turns_uvicorn_access_off_and_routes_recsys(
    log_format: LogFormat, formatter: type[logging.Formatter], restored_logging: None
) -> None:
    config = log_config(log_format=log_format, level="INFO")
    loggers = config["loggers"]
    assert loggers["uvicorn.access"]["handlers"] == []
    assert loggers["uvicorn.access"]["propagate"] is False
    assert loggers["recsys"]["handlers"] == ["default"]
    logging.config.dictConfig(config)
    [handler] = logging.getLogger("recsys").handlers
    assert type(handler.formatter) is formatter


def test_log_config_applies_and_writes_json_lines(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # The handler's stream is ext://sys.stderr, resolved now: pytest's capture of it.
    logging.config.dictConfig(log_config(log_format="json", level="INFO"))
    logging.getLogger("recsys.service.x").info("loaded %s", "als")
    logging.getLogger("uvicorn.access").info("an access line uvicorn would write")
    logging.getLogger("some.library").warning("careful")
    logging.getLogger("some.library").info("not shown: below the root's WARNING")
    warnings.warn("a library's warning", UserWarning, stacklevel=1)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["logger"], line["level"]) for line in lines] == [
        ("recsys.service.x", "INFO"),
        ("some.library", "WARNING"),
        ("py.warnings", "WARNING"),
    ]
    assert lines[0]["message"] == "loaded als"
    assert "UserWarning: a library's warning" in lines[2]["message"]
