"""The service the API and the CLI share: user id -> ranked, filtered, titled movies.

It reads the user's history from the database at request time (so movies rated after training
are excluded too), scores with a loaded model, falls back to popularity for users the model
cannot score, and enriches the ids with titles and genres from the movies repository (through
an in-process ``MovieCatalog`` cache).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar

import anyio.to_thread
import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.repositories import RatingRepository, UserRepository
from recsys.events import EventWeights
from recsys.modeling.base import History, Recommender
from recsys.modeling.dataset import FloatArray, IdArray
from recsys.modeling.explain import NO_ANCHOR
from recsys.service.catalog import Movie, MovieCatalog
from recsys.service.eligibility import RankingPlan, ranking_plan
from recsys.service.errors import (
    FallbackUnavailableError,
    ModelUnavailableError,
    UnknownModelError,
    UnknownMovieError,
    UnknownUserError,
    UnsupportedModelError,
)
from recsys.service.explore import NEW_REASON, content_neighbours, explore_slots, new_for_user
from recsys.service.fallback import FALLBACK_MODEL, fallback_reason
from recsys.service.filters import NO_FILTERS, FilterRequest
from recsys.service.histories import HistoryCache, frozen_history
from recsys.service.metrics import count_fallback, count_recommendation
from recsys.service.registry import LoadedModel
from recsys.service.sessions import LazySession, Sessions, lazy_session

# Scoring runs on the event loop below this catalogue size and in a worker thread above it.
# Measured on ML-100K (1,682 movies, 2 vCPU): one top-10 costs ~0.3-0.5 ms, nearly all of it
# Python-level scipy/numpy overhead that holds the GIL, so a worker thread could not run it in
# parallel with the loop, and the hop itself costs ~0.06-0.1 ms of CPU: offloading would only
# add work. The dense part grows with the catalogue and releases the GIL: the ALS product and
# argpartition take 0.04 ms at 1.7K movies, 0.3 ms at 10K, 2 ms at 50K and 3.7 ms at 90K (one
# BLAS thread); from tens of thousands of movies on, running it off the loop keeps the other
# requests' latency flat.
OFFLOAD_MIN_ITEMS = 50_000

# The outcomes of recsys_recommendations_total.
ANSWERED, FELL_BACK, UNKNOWN_USER, UNAVAILABLE = "model", "fallback", "unknown_user", "unavailable"

T = TypeVar("T")


@dataclass(frozen=True)
class ScoredMovie:
    """One recommended movie with what the catalogue says about it."""

    id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    score: float
    # "because you watched <title>": the history movie that led an item-to-item model here.
    reason: str | None = None


@dataclass(frozen=True)
class Recommendations:
    """A user's top-k from one model; ``fallback`` when popularity answered instead."""

    user_id: int
    model: str
    model_version: str
    fallback: bool
    movies: list[ScoredMovie]
    # With filters: how many movies they leave the user (unrated, rankable); None without.
    eligible: int | None = None


@dataclass(frozen=True)
class SimilarMovies:
    """The movies a model finds closest to one movie, best first."""

    movie: Movie
    model: str
    model_version: str
    movies: list[ScoredMovie]
    # True when the model never saw the movie: ``movies`` are its neighbours by content.
    by_content: bool = False
    # With filters: how many movies they leave (the movie itself not counted); None without.
    eligible: int | None = None


@dataclass(frozen=True)
class RatedMovie:
    """One entry of a user's rating history, with what the catalogue says about the movie."""

    id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    rating: float
    rated_at: datetime


@dataclass(frozen=True)
class UserRatings:
    """A user's ratings, newest first."""

    user_id: int
    ratings: list[RatedMovie]


class RecommenderService:
    """Stateless apart from what it was built with: loaded models and a movie cache."""

    def __init__(
        self,
        models: Mapping[str, LoadedModel],
        *,
        weights: EventWeights,
        unavailable: Mapping[str, str] | None = None,
        catalog: MovieCatalog | None = None,
        histories: HistoryCache | None = None,
        explore_share: float = 0.0,
    ) -> None:
        self._models = MappingProxyType(dict(models))
        # Users' histories in memory, kept current by the database's notifications (None:
        # every request reads its history with one query).
        self._histories = histories
        # Model types that were asked for but could not be loaded, with the reason
        # (ModelUnavailableError).
        self._unavailable = MappingProxyType(dict(unavailable or {}))
        self.catalog = catalog if catalog is not None else MovieCatalog()
        # How events add to a history's interaction weights (built once, by the runtime).
        self._weights = weights
        # The share of each answer's slots that goes to new movies (recsys.service.explore).
        self._explore_share = explore_share

    @property
    def model_types(self) -> list[str]:
        """The model types this service can answer with, sorted."""
        return sorted(self._models)

    @property
    def models(self) -> Mapping[str, LoadedModel]:
        """The loaded models by type (read-only)."""
        return self._models

    @property
    def unavailable(self) -> Mapping[str, str]:
        """Model types that should be served but are not loaded, with the reason (read-only)."""
        return self._unavailable

    def get(self, model_type: str) -> LoadedModel:
        """The loaded model of ``model_type``; ``ModelUnavailableError`` if it failed to load,
        ``UnknownModelError`` if it was never asked for."""
        loaded = self._models.get(model_type)
        if loaded is not None:
            return loaded
        reason = self._unavailable.get(model_type)
        if reason is not None:
            raise ModelUnavailableError(model_type, reason)
        raise UnknownModelError(model_type, self.model_types)

    async def recommend(
        self,
        db: AsyncSession | Sessions,
        user_id: int,
        *,
        model_type: str,
        k: int,
        filters: FilterRequest | None = None,
        excluded: Iterable[int] = (),
    ) -> Recommendations:
        """Top-k unrated movies for a known user, best first, titled.

        ``db`` is a session, or a session factory: then a session is opened only if the
        history or a title is not in memory (the API's hot path). ``filters`` restrict the
        ranking (recsys.service.filters) and may ask for a diversified list; ``excluded``
        movie ids are never answered (the service's own rules, through the same mask).
        """
        try:
            loaded = self.get(model_type)
        except ModelUnavailableError:
            count_recommendation(model_type, UNAVAILABLE)  # configured: a bounded label
            raise
        async with lazy_session(db) as session:
            try:
                history = await self._history(session, user_id)
            except UnknownUserError:
                count_recommendation(model_type, UNKNOWN_USER)
                raise
            answer, fallback = loaded, False
            reason = fallback_reason(loaded.model, user_id, history)
            if reason is not None:
                fallback_model = self._models.get(FALLBACK_MODEL)
                if fallback_model is None:
                    count_recommendation(model_type, UNAVAILABLE)
                    raise FallbackUnavailableError(user_id, model_type)
                answer, fallback = fallback_model, True
            model = answer.model
            snapshot = self.catalog.snapshot
            excluded = list(excluded)
            filtered = filters is not None and filters.filters
            # New movies first: the model fills the slots they leave (all when there are none).
            # A filtered request gets none (the filters' mask covers the model's items only).
            new_ids, new_scores = new_for_user(
                snapshot,
                snapshot.new_for(model),
                history,
                0 if filtered else explore_slots(k, self._explore_share),
            )
            if excluded and new_ids.shape[0]:
                keep = ~np.isin(new_ids, excluded)
                new_ids, new_scores = new_ids[keep], new_scores[keep]
            model_k = k - new_ids.shape[0]
            # Soft-deleted movies leave through the same eligibility mask as the filters.
            excluded += snapshot.deleted_ids.tolist()
            plan = None
            if filters is not None or excluded:
                plan = await self._plan(session, model, filters or NO_FILTERS, excluded)
                plan = plan.without(history.movie_ids)

            def top_with_anchors() -> tuple[IdArray, FloatArray, IdArray]:
                if model_k == 0:
                    return new_ids[:0], new_scores[:0], new_ids[:0]
                if plan is None:
                    ids, scores = model.recommend(user_id, history=history, k=model_k)
                else:
                    ids, scores = plan.rank(
                        lambda n, allowed: model.recommend(
                            user_id, history=history, k=n, allowed=allowed
                        ),
                        model_k,
                    )
                return ids, scores, model.explain(history, ids)

            ids, scores, anchors = await _run_scoring(model, top_with_anchors)
            movies = await self._titled(session, ids, scores, anchors)
            if new_ids.shape[0]:
                movies += await self._titled(session, new_ids, new_scores, new=True)
        # Counted once answered: a request the database failed is a database error instead.
        if reason is None:
            count_recommendation(model_type, ANSWERED)
        else:
            count_recommendation(model_type, FELL_BACK)
            count_fallback(model_type, reason)
        return Recommendations(
            user_id=user_id,
            model=model.model_type,
            model_version=answer.version,
            fallback=fallback,
            movies=movies,
            eligible=plan.eligible if plan is not None and plan.filtered else None,
        )

    async def _plan(
        self,
        session: LazySession,
        model: Recommender[Any],
        filters: FilterRequest,
        excluded: Iterable[int],
    ) -> RankingPlan:
        # The eligibility mask over ``model``'s items and the diversity setting of a request.
        eligibility = await self.catalog.eligibility(session.get)
        return await ranking_plan(eligibility, model, filters, session.get, excluded=excluded)

    async def history(self, session: AsyncSession, user_id: int) -> History:
        """Everything a known user has rated or done so far (movie ids ascending).

        From the history cache when it holds the user, else one query (whose answer the cache
        keeps); ``UnknownUserError`` when there is no such user.
        """
        return await self._history(LazySession(session), user_id)

    async def _history(self, session: LazySession, user_id: int) -> History:
        cache = self._histories
        token = 0
        if cache is not None:
            cached = cache.get(user_id)
            if cached is not None:
                return cached
            token = cache.token()
        # One round trip: whether the user exists and everything they have rated or done so far.
        rated = await UserRepository(await session.get()).rated_movies(user_id, self._weights)
        if rated is None:
            raise UnknownUserError(user_id)
        history = frozen_history(rated.movie_ids, rated.ratings, rated.last_at)
        if cache is not None:
            cache.put(user_id, history, token)
        return history

    async def movie(self, session: AsyncSession, movie_id: int) -> Movie:
        """One movie from the catalogue, or ``UnknownMovieError``."""
        movie = await self.catalog.get(session, movie_id)
        if movie is None:
            raise UnknownMovieError(movie_id)
        return movie

    async def similar(
        self,
        session: AsyncSession,
        movie_id: int,
        *,
        model_type: str,
        k: int,
        filters: FilterRequest | None = None,
        excluded: Iterable[int] = (),
    ) -> SimilarMovies:
        """The k movies ``model_type`` finds most similar to a movie (empty if it never saw it),
        among those ``filters`` allow (less ``excluded``)."""
        loaded = self.get(model_type)
        model = loaded.model
        if not model.personalised:
            choices = [name for name, m in self._models.items() if m.model.personalised]
            raise UnsupportedModelError(model_type, "similar movies", sorted(choices))
        movie = await self.movie(session, movie_id)
        snapshot = self.catalog.snapshot
        lazy = LazySession(session)
        excluded = list(excluded)
        filtered = filters is not None and filters.filters
        plan: RankingPlan | None = None
        if not model.knows_item(movie_id):
            # A movie the model never saw: its content neighbours among every live movie.
            ids, scores = content_neighbours(snapshot, movie_id, None, k + len(excluded))
            if excluded:
                keep = ~np.isin(ids, excluded)
                ids, scores = ids[keep][:k], scores[keep][:k]
            movies = await self._titled(lazy, ids, scores)
        else:
            # New movies in the explore slots (none for a filtered request, whose mask covers
            # the model's items only); the model fills the rest.
            new_ids, new_scores = content_neighbours(
                snapshot,
                movie_id,
                snapshot.new_for(model),
                0 if filtered else explore_slots(k, self._explore_share),
            )
            if excluded and new_ids.shape[0]:
                keep = ~np.isin(new_ids, excluded)
                new_ids, new_scores = new_ids[keep], new_scores[keep]
            model_k = k - new_ids.shape[0]
            # Soft-deleted movies leave through the same eligibility mask as the filters.
            excluded += snapshot.deleted_ids.tolist()
            ids, scores = new_ids[:0], new_scores[:0]
            if model_k > 0 and filters is None and not excluded:
                ids, scores = await _run_scoring(
                    model, lambda: model.similar_items(movie_id, k=model_k)
                )
            elif model_k > 0:
                plan = await self._plan(lazy, model, filters or NO_FILTERS, excluded)
                plan = plan.without([movie_id])
                ranking = plan  # bound for the closure below (mypy keeps plan Optional)
                ids, scores = await _run_scoring(
                    model,
                    lambda: ranking.rank(
                        lambda n, allowed: model.similar_items(movie_id, k=n, allowed=allowed),
                        model_k,
                    ),
                )
            movies = await self._titled(lazy, ids, scores)
            movies += await self._titled(lazy, new_ids, new_scores, new=True)
        return SimilarMovies(
            movie=movie,
            model=model.model_type,
            model_version=loaded.version,
            movies=movies,
            by_content=not model.knows_item(movie_id),
            eligible=plan.eligible if plan is not None and plan.filtered else None,
        )

    async def ratings(self, session: AsyncSession, user_id: int, *, limit: int) -> UserRatings:
        """A known user's latest ``limit`` ratings, newest first, titled."""
        if not await UserRepository(session).exists(user_id):
            raise UnknownUserError(user_id)
        history = await RatingRepository(session).history(user_id, limit=limit)
        movies = {
            m.id: m for m in await self.catalog.get_many(session, [r.movie_id for r in history])
        }
        return UserRatings(
            user_id=user_id,
            ratings=[
                RatedMovie(m.id, m.title, m.year, m.genres, r.rating, r.rated_at)
                for r in history
                if (m := movies.get(r.movie_id)) is not None
            ],
        )

    async def _titled(
        self,
        session: LazySession,
        ids: IdArray,
        scores: FloatArray,
        anchors: IdArray | None = None,
        *,
        new: bool = False,
    ) -> list[ScoredMovie]:
        wanted = ids.tolist()
        anchor_ids = anchors.tolist() if anchors is not None else [NO_ANCHOR] * len(wanted)
        # One catalogue look-up for the movies and the history movies that explain them.
        extra = sorted({a for a in anchor_ids if a != NO_ANCHOR} - set(wanted))
        found = {m.id: m for m in await self.catalog.get_many(session.get, wanted + extra)}
        out = []
        for movie_id, score, anchor in zip(wanted, scores.tolist(), anchor_ids, strict=True):
            m = found.get(movie_id)
            if m is None:
                continue  # deleted from the catalogue since training
            because = found.get(anchor)
            reason = f"because you watched {because.title}" if because is not None else None
            if new:
                reason = NEW_REASON
            out.append(ScoredMovie(m.id, m.title, m.year, m.genres, score, reason))
        return out


async def _run_scoring(model: Recommender[Any], work: Callable[[], T]) -> T:
    # See OFFLOAD_MIN_ITEMS: inline for small catalogues, a worker thread for big ones.
    if model.n_items >= OFFLOAD_MIN_ITEMS:
        return await anyio.to_thread.run_sync(work)
    return work()
