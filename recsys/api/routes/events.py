"""``POST /events`` and ``POST /users/{user_id}/events``: what users did, recorded as it happens.

Both need the write token (``Authorization: Bearer <RECSYS_API_WRITE_TOKEN>``). A batch is
stored all together, committed before the answer, or refused whole with a 422 that names the
index and the field of every bad event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Path, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.api.auth import WriteAuth
from recsys.api.deps import RuntimeDep, WriteSessionDep
from recsys.api.errors import error_responses
from recsys.api.routing import WriteRoute
from recsys.api.schemas.events import EventBatchIn, EventsAcceptedOut, UserEventBatchIn
from recsys.events import CLIENT_ID_MAX
from recsys.service.ingestion import IncomingEvent, InvalidEventsError
from recsys.service.metrics import count_events, count_refused_events
from recsys.service.runtime import Runtime

# WriteRoute: the token is checked before the body is read (401 for broken JSON without one).
router = APIRouter(tags=["events"], dependencies=[WriteAuth], route_class=WriteRoute)

NewOrKnownUserId = Annotated[
    int,
    Path(
        ge=1,
        le=CLIENT_ID_MAX,
        description=f"User id, 1..{CLIENT_ID_MAX}; a user not known yet is created (the ids "
        "above are the service's own, for new external users).",
        examples=[1],
    ),
]

_DESCRIPTION = """\
Events count towards the user's history at once: the next recommendations exclude the movie,
and feed the next training (each (user, movie) weighs the sum of its events' weights and its
rating). An event whose `idempotency_key` is already stored is accepted again but not stored
or counted twice (`replayed` lists their indexes), so a client may retry a batch it got no
answer for.

422 in FastAPI's validation shape, one entry per problem, `loc` = `["body", "events", index,
field]`: an unknown movie, an unknown `type` (the message lists the known ones), a bad `value`
(a rating outside 0.5..5), an `occurred_at` beyond the clock-skew tolerance, or a malformed
field; a body that is not JSON is one `json_invalid` entry, `loc` = `["body", offset]`. Nothing
of a refused batch is stored. A body over RECSYS_MAX_BODY_BYTES (default 4 MiB) is a 413.

The token is checked before the body is read: without it the answer is a 401 whatever the body.
"""


@router.post(
    "/events",
    status_code=status.HTTP_201_CREATED,
    response_model=EventsAcceptedOut,
    responses=error_responses(401, 403, 413),
    summary="Record a batch of events (up to 1,000)",
    description=_DESCRIPTION,
)
async def post_events(
    batch: EventBatchIn, runtime: RuntimeDep, session: WriteSessionDep
) -> EventsAcceptedOut:
    """Record events of any users; unknown users (by id or external id) are created."""
    return await _ingest(runtime, session, [e.incoming(e.user_id) for e in batch.events])


@router.post(
    "/users/{user_id}/events",
    status_code=status.HTTP_201_CREATED,
    response_model=EventsAcceptedOut,
    responses=error_responses(401, 403, 413),
    summary="Record a batch of one user's events (up to 1,000)",
    description=_DESCRIPTION,
)
async def post_user_events(
    user_id: NewOrKnownUserId,
    batch: UserEventBatchIn,
    runtime: RuntimeDep,
    session: WriteSessionDep,
) -> EventsAcceptedOut:
    """Record events of one user (our integer id; created if unknown)."""
    return await _ingest(runtime, session, [e.incoming(user_id) for e in batch.events])


async def _ingest(
    runtime: Runtime, session: AsyncSession, events: Sequence[IncomingEvent]
) -> EventsAcceptedOut:
    # The ingester (and its EventWeights) is the runtime's, built once at startup.
    try:
        result = await runtime.ingester.ingest(session, events)
    except InvalidEventsError as exc:
        count_refused_events(len(events))
        # FastAPI's own 422 shape, so a client handles a missing field and an unknown movie
        # alike; the session rolls back when the request ends (nothing was written anyway).
        raise RequestValidationError(
            [
                {
                    "type": problem.kind,
                    "loc": ("body", "events", problem.index, problem.field),
                    "msg": problem.message,
                    "input": problem.value,
                }
                for problem in exc.problems
            ]
        ) from exc
    # Committed before the answer: an acknowledged event survives a crash right after it.
    await session.commit()
    # Counted once committed: a commit the database failed stored nothing.
    count_events(received=result.received, stored=result.stored, replayed=len(result.replayed))
    # This worker's history cache drops the users' old histories before the client can ask
    # again (other workers and pods hear the same notification from the database).
    await runtime.sync_histories()
    return EventsAcceptedOut(
        received=result.received, stored=result.stored, replayed=result.replayed
    )
