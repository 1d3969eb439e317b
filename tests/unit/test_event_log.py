"""The video seed's event CSV: parsed exactly, every bad line named by file, line and field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from recsys.data.events import IdKind, read_event_log
from recsys.data.frames import DatasetError
from recsys.events import EventWeights
from recsys.settings import DEFAULT_EVENT_WEIGHTS

HEADER = "userId,videoId,interactionType,interactionValue,location,timestamp"
WEIGHTS = EventWeights(DEFAULT_EVENT_WEIGHTS)
# The seed's own sample.
SEED = [
    "u001,v001,watch,1,USA,2025-01-01 10:10:00",
    "u001,v001,like,2,USA,2025-01-01 10:20:00",
    "u001,v002,watch,1,USA,2025-01-02 09:00:00",
    "u002,v003,watch,1,UK,2025-01-03 14:30:00",
    "u002,v003,complete,3,UK,2025-01-03 14:45:00",
]


def write(tmp_path: Path, lines: list[str], *, header: str = HEADER) -> Path:
    path = tmp_path / "interactions.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def test_the_seeds_sample_parses_to_known_columns(tmp_path: Path) -> None:
    log = read_event_log(write(tmp_path, SEED), WEIGHTS)
    assert len(log) == 5
    assert log.user_keys == ["u001", "u001", "u001", "u002", "u002"]
    assert log.movie_keys == ["v001", "v001", "v002", "v003", "v003"]
    assert log.types == ["watch", "like", "watch", "watch", "complete"]
    assert log.values == [1.0, 2.0, 1.0, 1.0, 3.0]
    assert log.occurred_at[0] == datetime(2025, 1, 1, 10, 10, tzinfo=UTC)
    assert log.lines == [2, 3, 4, 5, 6]


def test_timestamps_values_quotes_and_blank_lines(tmp_path: Path) -> None:
    lines = [
        "u1,v1,watch,,US,2025-01-01T10:00:00+02:00",  # offset: converted to UTC; no value
        "",
        '"u,2",v1,rating,4.5,"Paris, FR",1735725600',  # quoted comma; Unix seconds
        " u3 , v2 ,like,2,,2025-01-01T08:00:00Z",
    ]
    log = read_event_log(write(tmp_path, lines), WEIGHTS)
    assert log.user_keys == ["u1", "u,2", "u3"]
    assert log.movie_keys == ["v1", "v1", "v2"]
    assert log.values == [None, 4.5, 2.0]
    assert log.occurred_at == [
        datetime(2025, 1, 1, 8, tzinfo=UTC),
        datetime(2025, 1, 1, 10, tzinfo=UTC),
        datetime(2025, 1, 1, 8, tzinfo=UTC),
    ]
    assert log.lines == [2, 4, 5]


# Each case: the bad line (line 3 of the file, after one good line) and the message it must give.
BAD_LINES = {
    "unknown type": (
        "u1,v1,share,1,US,2025-01-01 10:00:00",
        "interactionType: unknown event type 'share': expected one of complete, dislike, like, "
        "rating, watch",
    ),
    "rating out of range": (
        "u1,v1,rating,7,US,2025-01-01 10:00:00",
        "interactionValue: rating value 7 is out of range [0.5, 5]",
    ),
    "rating without value": (
        "u1,v1,rating,,US,2025-01-01 10:00:00",
        "interactionValue: a rating event needs a value in [0.5, 5]",
    ),
    "value not a number": (
        "u1,v1,watch,lots,US,2025-01-01 10:00:00",
        "interactionValue: 'lots' is not a number",
    ),
    "value not finite": (
        "u1,v1,watch,inf,US,2025-01-01 10:00:00",
        "interactionValue: value must be a finite number in [-1e+09, 1e+09], got inf",
    ),
    "bad timestamp": (
        "u1,v1,watch,1,US,01/02/2025",
        "timestamp: '01/02/2025' is not a time (YYYY-MM-DD HH:MM:SS in UTC, ISO 8601, or Unix "
        "seconds)",
    ),
    "empty user": (",v1,watch,1,US,2025-01-01 10:00:00", "userId: empty id"),
    "too few fields": ("u1,v1,watch,1,US", "row: expected 6 fields, got 5: u1,v1,watch,1,US"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_a_bad_line_is_named_by_file_line_and_field(tmp_path: Path, case: str) -> None:
    line, message = BAD_LINES[case]
    path = write(tmp_path, [SEED[0], line])
    with pytest.raises(DatasetError) as caught:
        read_event_log(path, WEIGHTS)
    assert (caught.value.path, caught.value.line) == (path, 3)
    assert str(caught.value) == f"{path}:3: {message}"


def test_every_bad_line_is_counted_the_first_named(tmp_path: Path) -> None:
    lines = [SEED[0], "u1,v1,share,1,US,2025-01-01", SEED[1], "u1,v1,watch,1,US,never", ",,,,,x"]
    with pytest.raises(DatasetError, match=r":3: interactionType: .* \(and 2 more bad lines\)$"):
        read_event_log(write(tmp_path, lines), WEIGHTS)


def test_the_header_must_be_the_seeds(tmp_path: Path) -> None:
    path = write(tmp_path, SEED, header="user,video,type,value,location,timestamp")
    with pytest.raises(DatasetError, match=r":1: header must be userId,videoId,interactionType"):
        read_event_log(path, WEIGHTS)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DatasetError, match=r"empty.csv:1: empty file"):
        read_event_log(empty, WEIGHTS)


def test_a_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nope.csv: cannot read the event file"):
        read_event_log(tmp_path / "nope.csv", WEIGHTS)


@pytest.mark.parametrize(
    ("ids", "user", "message"),
    [
        ("internal", "u1", "userId: 'u1' is not a database id (an integer in [1, 1073741823])"),
        ("internal", "0", "userId: '0' is not a database id"),
        # Users are created by number only below 2**30: the ids above are left for new
        # external users (recsys.events.CLIENT_ID_MAX), so an import cannot exhaust them.
        ("internal", "1073741824", "userId: '1073741824' is not a database id"),
        ("internal", "2147483647", "userId: '2147483647' is not a database id"),
        ("external", "u" * 201, "userId: id longer than 200 characters"),
    ],
)
def test_ids_are_checked_for_their_kind(
    tmp_path: Path, ids: IdKind, user: str, message: str
) -> None:
    path = write(tmp_path, [f"{user},1,watch,1,US,2025-01-01 10:00:00"])
    with pytest.raises(DatasetError) as caught:
        read_event_log(path, WEIGHTS, ids=ids)
    assert str(caught.value).startswith(f"{path}:2: {message}")


def test_a_movie_may_have_any_key_int4_holds(tmp_path: Path) -> None:
    # Movies are never created by number (they must be in the catalogue): no cap below int4.
    log = read_event_log(
        write(tmp_path, ["1073741823,2147483647,watch,1,US,2025-01-01 10:00:00"]),
        WEIGHTS,
        ids="internal",
    )
    assert (log.user_keys, log.movie_keys) == (["1073741823"], ["2147483647"])
    with pytest.raises(DatasetError, match=r"videoId: '2147483648' is not a database id"):
        read_event_log(
            write(tmp_path, ["1,2147483648,watch,1,US,2025-01-01 10:00:00"]),
            WEIGHTS,
            ids="internal",
        )


def test_internal_ids_are_normalised_integers(tmp_path: Path) -> None:
    log = read_event_log(
        write(tmp_path, ["007,42,watch,1,US,2025-01-01 10:00:00"]), WEIGHTS, ids="internal"
    )
    assert (log.user_keys, log.movie_keys) == (["7"], ["42"])
