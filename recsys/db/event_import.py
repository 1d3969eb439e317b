"""``recsys data import-events``' work: write a validated event log in one transaction.

The file is parsed and validated whole first (recsys.data.events), so a bad line fails before
anything is written. Then, on the caller's session and transaction: unknown external ids become
users and catalogue entries (title = the id until metadata arrives), or, with internal ids,
missing users are created and a missing movie fails naming its line; the events go in with
EventRepository.add_many in batches. The caller commits, so any failure leaves the database as
it was. Importing the same file twice stores its events twice: the seed's format has no
idempotency key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from recsys.data.events import EventLog, IdKind
from recsys.data.frames import DatasetError
from recsys.db.repositories import EventRepository, MovieRepository, NewEvent, UserRepository

# Events per INSERT: big enough that round trips do not dominate, small enough that one
# statement's arrays stay a few MB.
BATCH = 20_000


@dataclass(frozen=True)
class ImportSummary:
    """What one import wrote."""

    events: int
    users: int
    movies: int
    new_users: int
    new_movies: int


async def import_event_log(
    session: AsyncSession, log: EventLog, *, ids: IdKind = "external"
) -> ImportSummary:
    """Resolve or create the log's users and movies, then insert its events (no commit)."""
    users, movies = UserRepository(session), MovieRepository(session)
    if ids == "external":
        user_keys, movie_keys = _distinct(log.user_keys), _distinct(log.movie_keys)
        known_users = len(await users.ids_for_external(user_keys, create=False))
        known_movies = len(await movies.ids_for_external(movie_keys, create=False))
        user_map = await users.ids_for_external(user_keys, create=True)
        movie_map = await movies.ids_for_external(movie_keys, create=True)
        user_ids = [user_map[key] for key in log.user_keys]
        movie_ids = [movie_map[key] for key in log.movie_keys]
        new_users, new_movies = len(user_map) - known_users, len(movie_map) - known_movies
    else:
        user_ids = [int(key) for key in log.user_keys]
        movie_ids = [int(key) for key in log.movie_keys]
        missing = await movies.missing(movie_ids)
        if missing:
            line = log.lines[movie_ids.index(missing[0])]
            more = f" ({len(missing) - 1:,} more unknown movies)" if len(missing) > 1 else ""
            raise DatasetError(
                f"videoId: movie {missing[0]} is not in the catalogue{more}; with --ids internal "
                "movies must exist (use external ids to create them)",
                path=log.path,
                line=line,
            )
        distinct_users = _distinct(user_ids)
        new_users = len(await users.missing(distinct_users))
        await users.ensure(distinct_users)
        new_movies = 0
    n_users, n_movies = len(set(user_ids)), len(set(movie_ids))
    events = EventRepository(session)
    for start in range(0, len(log), BATCH):
        stop = min(start + BATCH, len(log))
        await events.add_many(
            [
                NewEvent(
                    user_id=user_ids[i],
                    movie_id=movie_ids[i],
                    type=log.types[i],
                    value=log.values[i],
                    occurred_at=log.occurred_at[i],
                )
                for i in range(start, stop)
            ]
        )
    return ImportSummary(
        events=len(log),
        users=n_users,
        movies=n_movies,
        new_users=new_users,
        new_movies=new_movies,
    )


def _distinct(values: Sequence[Any]) -> list[Any]:
    return list(dict.fromkeys(values))
