"""Event ingestion: check a batch of user events, resolve their ids, store it all or nothing.

The API's write routes call ``EventIngester.ingest`` inside one read-write transaction and
commit it before they answer, so an acknowledged event is never lost. Every event of the batch
is checked before anything is written; one bad event refuses the whole batch with the index and
the field of every problem found. ``read_event_log`` parses a whole event log file (the video
seed's CSV) and ``import_events`` writes it the same all-or-nothing way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recsys.data.events import EventLog, IdKind, read_event_log
from recsys.data.frames import DatasetError
from recsys.db.event_import import ImportSummary, import_event_log
from recsys.db.repositories import MovieRepository, UserRepository
from recsys.db.repositories.events import EventRepository, NewEvent
from recsys.events import EventWeights
from recsys.service.errors import ServiceError

__all__ = [
    "DatasetError",
    "EventIngester",
    "EventLog",
    "EventProblem",
    "ImportSummary",
    "IdKind",
    "IncomingEvent",
    "IngestResult",
    "InvalidEventsError",
    "import_events",
    "read_event_log",
]


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """One event as a client sent it: ids are ours (int) or external ones (str, ``"u001"``)."""

    user: int | str
    movie: int | str
    type: str
    value: float | None = None
    occurred_at: datetime | None = None  # None: when it was received
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class EventProblem:
    """What is wrong with one event: its index in the batch, the field, and why."""

    index: int
    field: str
    kind: str  # unknown_movie, unknown_event_type, bad_event_value, future_timestamp
    message: str
    value: object


class InvalidEventsError(ServiceError, ValueError):
    """The batch has bad events; nothing of it was written."""

    def __init__(self, problems: Sequence[EventProblem]) -> None:
        if not problems:
            raise ValueError("InvalidEventsError needs at least one problem")
        self.problems = tuple(problems)
        first = self.problems[0]
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"event {first.index}, {first.field}: {first.message}{more}")


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What became of a batch: how many events were stored, which were replays."""

    received: int
    stored: int
    replayed: list[int]  # indexes whose idempotency key was already stored


class EventIngester:
    """Checks events against the configured types and the catalogue, then stores them."""

    def __init__(self, weights: EventWeights, *, future_tolerance: timedelta) -> None:
        self.weights = weights
        self.future_tolerance = future_tolerance

    async def ingest(
        self,
        session: AsyncSession,
        events: Sequence[IncomingEvent],
        *,
        now: datetime | None = None,
    ) -> IngestResult:
        """Store ``events`` in ``session``'s transaction (the caller commits).

        Unknown users are created (a new user can start sending events at once); movies must
        be in the catalogue. Raises ``InvalidEventsError`` naming every bad event before
        anything is written. An event whose idempotency key is already stored is accepted and
        reported in ``replayed``, not stored again.
        """
        now = now or datetime.now(UTC)
        problems = self._check_fields(events, now)
        movie_ids, movie_problems = await _resolve_movies(session, events)
        problems.extend(movie_problems)
        if problems:
            raise InvalidEventsError(sorted(problems, key=_problem_order))
        user_ids = await _resolve_users(session, events)
        rows = [
            NewEvent(
                user_id=user_ids[event.user],
                movie_id=movie_ids[event.movie],
                type=event.type,
                value=event.value,
                occurred_at=event.occurred_at or now,
                idempotency_key=event.idempotency_key,
            )
            for event in events
        ]
        stored = await EventRepository(session).add_many(rows)
        return IngestResult(
            received=len(rows),
            stored=sum(stored),
            replayed=[index for index, was_stored in enumerate(stored) if not was_stored],
        )

    def _check_fields(self, events: Sequence[IncomingEvent], now: datetime) -> list[EventProblem]:
        latest = now + self.future_tolerance
        problems: list[EventProblem] = []
        for index, event in enumerate(events):
            message = self.weights.check(event.type, event.value)
            if message is not None:
                if event.type in self.weights.types:
                    problems.append(
                        EventProblem(index, "value", "bad_event_value", message, event.value)
                    )
                else:
                    problems.append(
                        EventProblem(index, "type", "unknown_event_type", message, event.type)
                    )
            if event.occurred_at is not None and event.occurred_at > latest:
                ahead = (event.occurred_at - now).total_seconds()
                problems.append(
                    EventProblem(
                        index,
                        "occurred_at",
                        "future_timestamp",
                        f"{event.occurred_at.isoformat()} is {ahead:,.0f} s ahead of the "
                        f"server's clock; at most {self.future_tolerance.total_seconds():g} s "
                        "is allowed (RECSYS_EVENT_FUTURE_TOLERANCE_SECONDS)",
                        event.occurred_at.isoformat(),
                    )
                )
        return problems


async def import_events(
    sessions: async_sessionmaker[AsyncSession], log: EventLog, *, ids: IdKind
) -> ImportSummary:
    """Write a parsed event log (``recsys data import-events``) in one transaction, committed."""
    async with sessions() as session, session.begin():
        return await import_event_log(session, log, ids=ids)


_FIELD_ORDER = {"user_id": 0, "movie_id": 1, "type": 2, "value": 3, "occurred_at": 4}


def _problem_order(problem: EventProblem) -> tuple[int, int]:
    return problem.index, _FIELD_ORDER.get(problem.field, len(_FIELD_ORDER))


async def _resolve_movies(
    session: AsyncSession, events: Sequence[IncomingEvent]
) -> tuple[dict[int | str, int], list[EventProblem]]:
    # Our ids must exist; external ids must name a catalogue entry (events never create movies:
    # a movie without a title would reach recommendations).
    repository = MovieRepository(session)
    numeric = sorted({e.movie for e in events if isinstance(e.movie, int)})
    keys = sorted({e.movie for e in events if isinstance(e.movie, str)})
    missing = set(await repository.missing(numeric)) if numeric else set()
    found = await repository.ids_for_external(keys, create=False) if keys else {}
    resolved: dict[int | str, int] = {i: i for i in numeric if i not in missing}
    resolved.update(found)
    problems = [
        EventProblem(
            index,
            "movie_id",
            "unknown_movie",
            f"movie {event.movie!r} does not exist"
            if isinstance(event.movie, str)
            else f"movie {event.movie} does not exist",
            event.movie,
        )
        for index, event in enumerate(events)
        if event.movie not in resolved
    ]
    return resolved, problems


async def _resolve_users(
    session: AsyncSession, events: Sequence[IncomingEvent]
) -> dict[int | str, int]:
    # Unknown users are created, by id or by external id.
    repository = UserRepository(session)
    numeric = sorted({e.user for e in events if isinstance(e.user, int)})
    keys = sorted({e.user for e in events if isinstance(e.user, str)})
    if numeric:
        await repository.ensure(numeric)
    resolved: dict[int | str, int] = {i: i for i in numeric}
    if keys:
        resolved.update(await repository.ids_for_external(keys, create=True))
    return resolved
