"""External ids (the video seed's ``"u001"``, ``"v005"``) and our integer keys, at the API's edge.

Users and movies imported from a seed-format log carry an external id; MovieLens ones do not.
Clients of the seed's SageMaker contract name users by external id and expect items back in
external ids; entries without one are named by our integer id instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.repositories import MovieRepository, UserRepository
from recsys.service.errors import UnknownExternalUserError

_INT4_MAX = 2**31 - 1


async def resolve_user(session: AsyncSession, user: int | str) -> int:
    """Our id of ``user``: an int is ours already; a str is an external id, else a numeric id.

    A string that is no user's external id but reads as a non-negative integer (``"196"``) is
    taken as our id, so clients that send every id as a string reach MovieLens users too. An
    external id always wins over that reading. Whether an int id exists is left to the caller.
    """
    if isinstance(user, int):
        return user
    found = await UserRepository(session).ids_for_external([user], create=False)
    if user in found:
        return found[user]
    if user.isascii() and user.isdigit() and int(user) <= _INT4_MAX:
        return int(user)
    raise UnknownExternalUserError(user)


async def movie_keys(session: AsyncSession, movie_ids: Sequence[int]) -> list[int | str]:
    """``movie_ids`` in external ids where they have one, our ids otherwise, order kept."""
    external = await MovieRepository(session).external_ids(movie_ids) if movie_ids else {}
    return [external.get(movie_id, movie_id) for movie_id in movie_ids]
