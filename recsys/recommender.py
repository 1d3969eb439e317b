"""The service the API and the CLI share: user id -> ranked, filtered, titled movies.

It reads the user's history from the database at request time (so movies rated after training
are excluded too), scores with a loaded model, falls back to popularity for users the model
cannot score, and enriches the ids with titles and genres from the movies repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.repositories import MovieRepository, RatingRepository, UserRepository
from recsys.modeling.base import History, Recommender
from recsys.modeling.dataset import lookup

FALLBACK_MODEL = "popularity"


class RecommenderError(Exception):
    """Base of the service's domain errors; ``status_code`` is what HTTP callers answer."""

    status_code = 500


class UnknownUserError(RecommenderError):
    """The user id is not in the database."""

    status_code = 404

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        super().__init__(f"user {user_id} does not exist")


class UnknownModelError(RecommenderError):
    """The requested model type is not one the service has loaded."""

    status_code = 422

    def __init__(self, model_type: str, loaded: list[str]) -> None:
        self.model_type = model_type
        self.loaded = loaded
        choices = ", ".join(loaded) or "none"
        super().__init__(f"model {model_type!r} is not loaded; loaded models: {choices}")


class FallbackUnavailableError(RecommenderError):
    """The model cannot score this user and no popularity model is loaded to fall back on."""

    status_code = 503

    def __init__(self, user_id: int, model_type: str) -> None:
        super().__init__(
            f"{model_type} has nothing to go on for user {user_id} (no history it knows) and "
            "the popularity fallback is not trained: run `make train-cli model_type=popularity`"
        )


@dataclass(frozen=True)
class LoadedModel:
    """A fitted model plus the artifact version it was loaded from."""

    model: Recommender[Any]
    version: str


@dataclass(frozen=True)
class ScoredMovie:
    """One recommended movie with what the catalogue says about it."""

    id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    score: float


@dataclass(frozen=True)
class Recommendations:
    """A user's top-k from one model; ``fallback`` when popularity answered instead."""

    user_id: int
    model: str
    model_version: str
    fallback: bool
    movies: list[ScoredMovie]


class RecommenderService:
    """Stateless apart from the immutable mapping of loaded models it was built with."""

    def __init__(self, models: Mapping[str, LoadedModel]) -> None:
        self._models = dict(models)

    @property
    def model_types(self) -> list[str]:
        """The model types this service can answer with, sorted."""
        return sorted(self._models)

    def get(self, model_type: str) -> LoadedModel:
        """The loaded model of ``model_type``, or ``UnknownModelError`` listing the loaded ones."""
        try:
            return self._models[model_type]
        except KeyError:
            raise UnknownModelError(model_type, self.model_types) from None

    async def recommend(
        self, session: AsyncSession, user_id: int, *, model_type: str, k: int
    ) -> Recommendations:
        """Top-k unrated movies for a known user, best first, titled."""
        loaded = self.get(model_type)
        if not await UserRepository(session).exists(user_id):
            raise UnknownUserError(user_id)
        rated = await RatingRepository(session).history(user_id)
        history = History.of(
            np.fromiter((r.movie_id for r in rated), np.int64, len(rated)),
            np.fromiter((r.rating for r in rated), np.float32, len(rated)),
        )
        answer, fallback = loaded, False
        if not _can_score(loaded.model, user_id, history):
            fallback_model = self._models.get(FALLBACK_MODEL)
            if fallback_model is None:
                raise FallbackUnavailableError(user_id, model_type)
            answer, fallback = fallback_model, True
        ids, scores = answer.model.recommend(user_id, history=history, k=k)
        movies = await MovieRepository(session).get_many(ids.tolist())
        score_of = dict(zip(ids.tolist(), scores.tolist(), strict=True))
        return Recommendations(
            user_id=user_id,
            model=answer.model.model_type,
            model_version=answer.version,
            fallback=fallback,
            movies=[
                ScoredMovie(m.id, m.title, m.year, m.genres, float(score_of[m.id])) for m in movies
            ],
        )


def _can_score(model: Recommender[Any], user_id: int, history: History) -> bool:
    # A personalised model can score a user it trained on, or one whose history has movies it
    # knows (fold-in / item neighbourhoods); anyone else gets the popularity fallback.
    if not model.personalised or model.knows_user(user_id):
        return True
    return bool((lookup(model.item_ids, history.movie_ids) >= 0).any())
