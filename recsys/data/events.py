"""Event logs in the video seed's CSV format, parsed and validated line by line.

``userId,videoId,interactionType,interactionValue,location,timestamp`` (a header line, then one
event per line): ids are strings (``u001``, ``v001``), or numeric database ids with
``ids="internal"``; the type must be a configured one or ``rating``; the value may be empty
(a rating needs one in [0.5, 5]); ``location`` is read and not kept; the timestamp is
``YYYY-MM-DD HH:MM:SS`` (UTC unless it carries an offset), any ISO 8601 form, or Unix seconds.
Nothing is returned unless every line is valid: the first bad line is reported as
``FILE:LINE: FIELD: what is wrong``, with how many other lines are bad.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from recsys.data.frames import DatasetError
from recsys.events import CLIENT_ID_MAX, EventWeights

SEED_EVENT_COLUMNS = (
    "userId",
    "videoId",
    "interactionType",
    "interactionValue",
    "location",
    "timestamp",
)
IdKind = Literal["external", "internal"]
_INT32_MAX = 2**31 - 1
_MAX_ID_LENGTH = 200


@dataclass
class EventLog:
    """A validated event file as columns; ``lines[i]`` is the file line of event ``i``."""

    path: Path
    user_keys: list[str] = field(default_factory=list)
    movie_keys: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    occurred_at: list[datetime] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.types)


class _BadField(ValueError):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(f"{column}: {message}")


def read_event_log(path: Path, weights: EventWeights, *, ids: IdKind = "external") -> EventLog:
    """Parse and validate every line of ``path``; DatasetError names the first bad line."""
    log = EventLog(path=path)
    first_error: DatasetError | None = None
    bad_lines = 0
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise DatasetError(f"cannot read the event file: {exc.strerror or exc}", path=path) from exc
    with handle:
        try:
            for line, row in _rows(path, handle):
                try:
                    _append(log, row, line, weights, ids)
                except _BadField as exc:
                    bad_lines += 1
                    first_error = first_error or DatasetError(str(exc), path=path, line=line)
        except UnicodeDecodeError as exc:
            raise DatasetError(f"not UTF-8 text ({exc.reason})", path=path) from exc
    if first_error is not None:
        if bad_lines > 1:
            raise DatasetError(
                f"{first_error.reason} (and {bad_lines - 1:,} more bad lines)",
                path=path,
                line=first_error.line,
            )
        raise first_error
    return log


def _rows(path: Path, handle: Iterator[str]) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank data line, after checking the header."""
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        raise DatasetError("empty file: expected the header line", path=path, line=1) from None
    except csv.Error as exc:
        raise DatasetError(f"unreadable CSV: {exc}", path=path, line=1) from exc
    if tuple(column.strip() for column in header) != SEED_EVENT_COLUMNS:
        raise DatasetError(
            f"header must be {','.join(SEED_EVENT_COLUMNS)} (the video seed's format), "
            f"got {','.join(header)}",
            path=path,
            line=1,
        )
    while True:
        # A quoted field may span lines: the row's number is the line it starts on.
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DatasetError(f"unreadable CSV: {exc}", path=path, line=start) from exc
        if row and any(value.strip() for value in row):
            yield start, row


def _append(log: EventLog, row: list[str], line: int, weights: EventWeights, ids: IdKind) -> None:
    if len(row) != len(SEED_EVENT_COLUMNS):
        raise _BadField(
            "row", f"expected {len(SEED_EVENT_COLUMNS)} fields, got {len(row)}: {','.join(row)}"
        )
    user, movie, type_, value_text, _location, stamp = (value.strip() for value in row)
    # Users an import creates by number are capped as the API caps them (recsys.events); movies
    # must be in the catalogue already, under any key int4 holds.
    user = _id(user, "userId", ids, top=CLIENT_ID_MAX)
    movie = _id(movie, "videoId", ids, top=_INT32_MAX)
    value = _value(value_text)
    problem = weights.check(type_, value)
    if problem is not None:
        column = "interactionType" if type_ not in weights.types else "interactionValue"
        raise _BadField(column, problem)
    occurred_at = _timestamp(stamp)
    log.user_keys.append(user)
    log.movie_keys.append(movie)
    log.types.append(type_)
    log.values.append(value)
    log.occurred_at.append(occurred_at)
    log.lines.append(line)


def _id(text: str, column: str, ids: IdKind, *, top: int) -> str:
    if not text:
        raise _BadField(column, "empty id")
    if ids == "internal":
        if not text.isdigit() or not 1 <= int(text) <= top:
            raise _BadField(column, f"{text!r} is not a database id (an integer in [1, {top}])")
        return str(int(text))
    if len(text) > _MAX_ID_LENGTH:
        raise _BadField(column, f"id longer than {_MAX_ID_LENGTH} characters")
    return text


def _value(text: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _BadField("interactionValue", f"{text!r} is not a number") from None
    return value


def _timestamp(text: str) -> datetime:
    if not text:
        raise _BadField("timestamp", "empty timestamp")
    try:
        if text.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        raise _BadField(
            "timestamp",
            f"{text!r} is not a time (YYYY-MM-DD HH:MM:SS in UTC, ISO 8601, or Unix seconds)",
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
