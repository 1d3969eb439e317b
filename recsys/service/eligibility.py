"""A request's filters against the catalogue: the mask a model ranks within, and diversity.

``Eligibility.criteria`` resolves a ``FilterRequest`` (recsys.service.filters) against the
catalogue (unknown genres listed, external movie ids looked up) and ``Eligibility.mask`` gives
the bool mask over a model's items (``recsys.modeling.eligibility``); ``ranking_plan`` wraps
both with the diversity setting. Other rules that remove movies from every answer (soft
deletes, a user's dislikes) pass their movie ids as ``excluded``: the same mask, no second
mechanism. ``EligibilitySource`` holds the catalogue's arrays; ``invalidate`` it after a
catalogue write.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.repositories import MovieRepository
from recsys.modeling.base import PAD_ID, Recommender
from recsys.modeling.dataset import BoolArray, FloatArray, IdArray, lookup
from recsys.modeling.diversity import mmr, pool_size, unit_rows
from recsys.modeling.eligibility import NO_CRITERIA, Criteria, ItemCatalogue
from recsys.modeling.items import ItemAttributes
from recsys.service.filters import INT4_MAX, FilterRequest, InvalidFilterError, MovieKey

# Masks kept per model for the criteria seen last (a mask is one byte per item).
MASK_CACHE = 256


class Eligibility:
    """The catalogue's years and genres, and each model's columns of them (taken once)."""

    def __init__(self, attributes: ItemAttributes) -> None:
        self.attributes = attributes
        self._known = frozenset(attributes.genre_names)
        self._aligned: weakref.WeakKeyDictionary[Recommender[Any], ItemCatalogue] = (
            weakref.WeakKeyDictionary()
        )
        self._unit: weakref.WeakKeyDictionary[Recommender[Any], npt.NDArray[np.float32]] = (
            weakref.WeakKeyDictionary()
        )
        self._masks: weakref.WeakKeyDictionary[
            Recommender[Any], OrderedDict[Criteria, BoolArray]
        ] = weakref.WeakKeyDictionary()

    @classmethod
    async def load(cls, session: AsyncSession) -> Eligibility:
        """Every movie's year and genres, in one query."""
        rows = await MovieRepository(session).attributes()
        return cls(
            ItemAttributes.from_records(
                [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
            )
        )

    @property
    def genre_names(self) -> tuple[str, ...]:
        """The catalogue's genres, sorted (what ``genres=`` accepts)."""
        return self.attributes.genre_names

    def items(self, model: Recommender[Any]) -> ItemCatalogue:
        """``model``'s item columns (computed on first use, kept while the model lives)."""
        aligned = self._aligned.get(model)
        if aligned is None:
            aligned = ItemCatalogue.align(self.attributes, model.item_ids)
            self._aligned[model] = aligned
        return aligned

    def unit_genres(self, model: Recommender[Any]) -> npt.NDArray[np.float32]:
        """Unit-length genre rows of ``model``'s items (what diversity compares), kept."""
        unit = self._unit.get(model)
        if unit is None:
            unit = unit_rows(self.items(model).genre_matrix())
            self._unit[model] = unit
        return unit

    async def criteria(
        self, request: FilterRequest, session: Callable[[], Awaitable[AsyncSession]]
    ) -> Criteria:
        """``request`` in catalogue terms: genres checked, external movie ids resolved.

        ``session`` is called only when an id is a string (an external id to look up).
        """
        if not request.filters:
            return NO_CRITERIA
        for param, names in (
            ("genres", request.genres),
            ("exclude_genres", request.exclude_genres),
        ):
            unknown = [name for name in names if name not in self._known]
            if unknown:
                raise InvalidFilterError(
                    param,
                    f"unknown genre {unknown[0]!r}; known genres: "
                    + ", ".join(sorted(self._known)),
                    unknown[0],
                )
        strings = sorted(
            {k for k in (*request.exclude, *(request.only or ())) if isinstance(k, str)}
        )
        external: dict[str, int] = {}
        if strings:
            external = await MovieRepository(await session()).ids_for_external(
                strings, create=False
            )
        return Criteria(
            genres=frozenset(request.genres),
            exclude_genres=frozenset(request.exclude_genres),
            year_min=request.year_min,
            year_max=request.year_max,
            exclude=frozenset(_resolve("exclude", request.exclude, external)),
            only=(
                None
                if request.only is None
                else frozenset(_resolve("only", request.only, external))
            ),
        )

    def mask(
        self, model: Recommender[Any], criteria: Criteria, *, excluded: Iterable[int] = ()
    ) -> BoolArray:
        """The items of ``model`` that ``criteria`` allow, less ``excluded`` movie ids.

        Read-only. Without ``excluded``, the masks of the latest ``MASK_CACHE`` criteria are
        kept per model: a page's or a client's usual filters cost a dict look-up.
        """
        excluded = list(excluded)
        if excluded:
            allowed = self.items(model).eligible(criteria, excluded=excluded)
            allowed.flags.writeable = False
            return allowed
        cache = self._masks.setdefault(model, OrderedDict())
        kept = cache.get(criteria)
        if kept is not None:
            cache.move_to_end(criteria)
            return kept
        fresh = self.items(model).eligible(criteria)
        fresh.flags.writeable = False
        cache[criteria] = fresh
        if len(cache) > MASK_CACHE:
            cache.popitem(last=False)
        return fresh


def _resolve(param: str, keys: Iterable[MovieKey], external: Mapping[str, int]) -> list[int]:
    # As recsys.service.identities.resolve_user: an external id wins, then a numeric string is
    # our id; anything else names no movie.
    out = []
    for key in keys:
        if isinstance(key, int):
            out.append(key)
        elif key in external:
            out.append(external[key])
        elif key.isascii() and key.isdigit() and int(key) <= INT4_MAX:
            out.append(int(key))
        else:
            raise InvalidFilterError(param, f"no movie has the id {key!r}", key)
    return out


Ranker = Callable[[int, BoolArray | None], tuple[IdArray, FloatArray]]


@dataclass(frozen=True)
class RankingPlan:
    """How one request ranks: within ``allowed`` (None: every item), diversified or not."""

    item_ids: IdArray
    allowed: BoolArray | None
    diversify: float
    # Unit genre rows of the model's items when ``diversify`` > 0.
    features: npt.NDArray[np.float32] | None
    # True when the request had filters (the answer then says how many were ``eligible``).
    filtered: bool
    eligible: int = 0

    def without(self, movie_ids: npt.ArrayLike) -> RankingPlan:
        """The plan with ``eligible`` counted: allowed items less ``movie_ids`` (the history)."""
        found = lookup(self.item_ids, movie_ids)
        found = np.unique(found[found >= 0])
        if self.allowed is None:
            eligible = int(self.item_ids.shape[0] - found.shape[0])
        else:
            eligible = int(np.count_nonzero(self.allowed)) - int(
                np.count_nonzero(self.allowed[found])
            )
        return replace(self, eligible=eligible)

    def rank(self, ranker: Ranker, k: int) -> tuple[IdArray, FloatArray]:
        """``ranker(n, allowed)``'s top k; with ``diversify``, MMR over its best pool."""
        if self.diversify <= 0 or self.features is None:
            return ranker(k, self.allowed)
        ids, scores = ranker(pool_size(k, int(self.item_ids.shape[0])), self.allowed)
        picked, picked_scores = mmr(
            lookup(self.item_ids, ids), scores, self.features, k, self.diversify
        )
        return self.item_ids[picked], picked_scores

    def rank_batch(self, ranker: Ranker, k: int) -> tuple[IdArray, FloatArray]:
        """``rank`` for a batch: ``ranker`` answers (users, n) ids / scores padded with
        ``PAD_ID`` / -inf; each row is diversified on its own."""
        if self.diversify <= 0 or self.features is None:
            return ranker(k, self.allowed)
        ids, scores = ranker(pool_size(k, int(self.item_ids.shape[0])), self.allowed)
        out_ids = np.full((ids.shape[0], k), PAD_ID, dtype=np.int64)
        out_scores = np.full((ids.shape[0], k), -np.inf, dtype=np.float32)
        for row in range(ids.shape[0]):
            valid = ids[row] != PAD_ID
            picked, picked_scores = mmr(
                lookup(self.item_ids, ids[row][valid]),
                scores[row][valid],
                self.features,
                k,
                self.diversify,
            )
            out_ids[row, : picked.shape[0]] = self.item_ids[picked]
            out_scores[row, : picked.shape[0]] = picked_scores
        return out_ids, out_scores


async def ranking_plan(
    eligibility: Eligibility,
    model: Recommender[Any],
    filters: FilterRequest,
    session: Callable[[], Awaitable[AsyncSession]],
    *,
    excluded: Iterable[int] = (),
) -> RankingPlan:
    """How ``model`` ranks for ``filters``: the mask over its items (less ``excluded``), and
    the genre rows MMR compares when ``filters.diversify`` > 0."""
    criteria = await eligibility.criteria(filters, session)
    excluded = list(excluded)
    allowed = None
    if filters.filters or excluded:
        allowed = eligibility.mask(model, criteria, excluded=excluded)
    features = eligibility.unit_genres(model) if filters.diversify > 0 else None
    return RankingPlan(
        model.item_ids, allowed, filters.diversify, features, filtered=filters.filters
    )


class EligibilitySource:
    """The catalogue's ``Eligibility``, read on first use and kept until ``invalidate``."""

    def __init__(self) -> None:
        self._current: Eligibility | None = None

    async def get(self, session: Callable[[], Awaitable[AsyncSession]]) -> Eligibility:
        """The current one (one query the first time, or after ``invalidate``)."""
        current = self._current
        if current is None:
            current = await Eligibility.load(await session())
            self._current = current
        return current

    def set(self, eligibility: Eligibility) -> None:
        """Serve ``eligibility`` from now on (e.g. read at start-up)."""
        self._current = eligibility

    def invalidate(self) -> None:
        """The catalogue changed (a movie added, edited, deleted): read it again next time."""
        self._current = None


async def batch_plans(
    session: AsyncSession,
    models: Sequence[Recommender[Any]],
    filters: FilterRequest,
    *,
    excluded: Iterable[int] = (),
) -> list[RankingPlan]:
    """``ranking_plan`` of each model for ``filters`` over a freshly read catalogue (the CLI's
    ``predict --all``: one query for the catalogue, one more only for external ids);
    ``excluded`` movie ids (soft deletes) are never answered."""
    eligibility = await Eligibility.load(session)

    async def same() -> AsyncSession:
        return session

    excluded = list(excluded)
    return [
        await ranking_plan(eligibility, model, filters, same, excluded=excluded) for model in models
    ]
