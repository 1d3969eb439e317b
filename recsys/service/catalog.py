"""An in-process cache in front of the movies repository (titles, years, genres by id).

Movies change through the seed and the catalogue writes (POST/PUT/DELETE /movies,
``import-movies``); a write replaces the whole catalogue in every worker within a poll interval
(``install``, recsys.service.catalog_state), so between writes a movie row read once is served
from memory; the cache is bounded (least recently used out) so a huge catalogue cannot grow it
without limit. Per request it costs one dict look-up per id, and one
``WHERE id = ANY(...)`` query for the ids it has not seen yet.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.repositories import MovieRecord, MovieRepository
from recsys.service.catalog_state import CatalogSnapshot
from recsys.service.eligibility import Eligibility, EligibilitySource

DEFAULT_MAX_MOVIES = 100_000
# Ids per query when warming: one ANY(array) parameter each, well under any protocol limit.
_WARM_CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class Movie:
    """A movie as the service shows it; immutable, so it is safe to cache across requests."""

    id: int
    title: str
    year: int | None
    genres: tuple[str, ...]

    @classmethod
    def of(cls, record: MovieRecord) -> Movie:
        """The service's copy of a repository row (made once, when the cache first sees it)."""
        return cls(record.id, record.title, record.year, record.genres)


class MovieCatalog:
    """Movies by id, cached; safe to share between the requests of one event loop."""

    def __init__(self, *, max_movies: int = DEFAULT_MAX_MOVIES) -> None:
        if max_movies < 1:
            raise ValueError(f"max_movies must be >= 1, got {max_movies}")
        self._max = max_movies
        self._movies: OrderedDict[int, Movie] = OrderedDict()
        self.hits = 0
        self.misses = 0
        # The whole catalogue (deleted and new movies, content vectors), replaced by install().
        self.snapshot: CatalogSnapshot = CatalogSnapshot.empty()
        # Years and genres of every movie as arrays, for request filters (recsys.service.filters).
        self.eligibility_source = EligibilitySource()

    def install(self, snapshot: CatalogSnapshot) -> None:
        """Serve ``snapshot`` from now on: its rows replace every cached movie."""
        movies: OrderedDict[int, Movie] = OrderedDict()
        for row in snapshot.rows[-self._max :]:
            movies[row.id] = Movie(row.id, row.title, row.year, row.genres)
        # Two assignments, no await between them: a request sees the old pair or the new one.
        self._movies = movies
        self.snapshot = snapshot
        # A new catalogue version (a write, an import): the filters' arrays are read again.
        self.eligibility_source.invalidate()

    def __len__(self) -> int:
        return len(self._movies)

    async def get_many(
        self, session: AsyncSession | Callable[[], Awaitable[AsyncSession]], ids: Sequence[int]
    ) -> list[Movie]:
        """Movies for ``ids`` in the order given; ids the database does not know are left out.

        ``session`` may be a coroutine function giving one, called only if an id is missing.
        """
        wanted = list(dict.fromkeys(ids))
        found: dict[int, Movie] = {}
        missing: list[int] = []
        for movie_id in wanted:
            movie = self._movies.get(movie_id)
            if movie is None:
                missing.append(movie_id)
            else:
                self._movies.move_to_end(movie_id)
                found[movie_id] = movie
        self.hits += len(found)
        if missing:
            self.misses += len(missing)
            # Two requests missing the same id both query it: harmless, and cheaper than a lock.
            if not isinstance(session, AsyncSession):
                session = await session()
            for record in await MovieRepository(session).get_many(missing):
                movie = Movie.of(record)
                found[movie.id] = movie
                self._put(movie)
        return [found[i] for i in wanted if i in found]

    async def warm(self, session: AsyncSession, ids: Iterable[int]) -> int:
        """Load ``ids`` (up to the cache's size) ahead of the first requests; returns how many."""
        wanted = list(dict.fromkeys(int(i) for i in ids))[: self._max]
        for start in range(0, len(wanted), _WARM_CHUNK):
            for record in await MovieRepository(session).get_many(
                wanted[start : start + _WARM_CHUNK]
            ):
                self._put(Movie.of(record))
        return len(self._movies)

    async def eligibility(self, session: Callable[[], Awaitable[AsyncSession]]) -> Eligibility:
        """The catalogue's years and genres for filters (one query on first use)."""
        return await self.eligibility_source.get(session)

    async def get(self, session: AsyncSession, movie_id: int) -> Movie | None:
        """One movie, or None if the database does not know it."""
        movies = await self.get_many(session, [movie_id])
        return movies[0] if movies else None

    def _put(self, movie: Movie) -> None:
        self._movies[movie.id] = movie
        self._movies.move_to_end(movie.id)
        while len(self._movies) > self._max:
            self._movies.popitem(last=False)
