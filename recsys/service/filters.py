"""Request filters (genres, years, exclude / allow lists) and diversity: parse, check, resolve.

``parse_filter_query`` reads them from a query string's raw values (the API's recommendation
and similar-movie routes read ``request.query_params`` with it, so the unfiltered hot path
pays one membership test, and another parser of the query string can call it as is);
``filter_request`` checks the same fields given as values (the ``/invocations`` body, the
CLI). Both raise ``InvalidFilterError`` naming the parameter. ``Eligibility.criteria`` then
resolves a request against the catalogue (unknown genres, external movie ids) and
``Eligibility.mask`` gives the bool mask over a model's items that the model ranks within
(``recsys.modeling.eligibility``). Other rules that remove movies from every answer (soft
deletes, a user's dislikes) pass their movie ids as ``excluded`` to ``mask``.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.repositories import MovieRepository
from recsys.modeling.base import Recommender
from recsys.modeling.dataset import BoolArray, FloatArray, IdArray, lookup
from recsys.modeling.diversity import mmr, pool_size, unit_rows
from recsys.modeling.eligibility import NO_CRITERIA, Criteria, ItemCatalogue
from recsys.modeling.items import ItemAttributes
from recsys.service.errors import ServiceError

# Query / body parameters this module reads, in the order the docs list them.
FILTER_PARAMS = ("genres", "exclude_genres", "year_min", "year_max", "exclude", "only")
DIVERSIFY = "diversify"
QUERY_PARAMS = (*FILTER_PARAMS, DIVERSIFY)
MAX_IDS = 1000
YEAR_MIN, YEAR_MAX = 1800, 2200
_INT4_MAX = 2**31 - 1

MovieKey = int | str


class InvalidFilterError(ServiceError, ValueError):
    """A filter parameter is malformed or names something the catalogue does not have."""

    def __init__(self, param: str, message: str, value: Any = None) -> None:
        self.param = param
        self.value = value
        super().__init__(f"{param}: {message}")


@dataclass(frozen=True)
class FilterRequest:
    """A request's filters as the client gave them (ids not yet resolved)."""

    genres: tuple[str, ...] = ()
    exclude_genres: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    exclude: tuple[MovieKey, ...] = ()
    only: tuple[MovieKey, ...] | None = None
    diversify: float = 0.0

    @property
    def filters(self) -> bool:
        """True when some movie may be ruled out (diversify alone rules out none)."""
        return bool(
            self.genres
            or self.exclude_genres
            or self.year_min is not None
            or self.year_max is not None
            or self.exclude
            or self.only is not None
        )


NO_FILTERS = FilterRequest()


def parse_filter_query(params: Mapping[str, str]) -> FilterRequest | None:
    """The filters in a query string's values (``?genres=Comedy,Drama&year_min=1990``).

    None when the query names none of them (the common case, one pass over few keys). Lists
    are comma-separated; an empty item (``genres=Comedy,``) is an error, as is an empty value.
    """
    if not any(name in params for name in QUERY_PARAMS):
        return None
    return filter_request(
        genres=_split(params, "genres"),
        exclude_genres=_split(params, "exclude_genres"),
        year_min=_query_int(params, "year_min"),
        year_max=_query_int(params, "year_max"),
        exclude=_split(params, "exclude"),
        only=_split(params, "only"),
        diversify=_query_float(params, DIVERSIFY),
    )


def filter_request(
    *,
    genres: Sequence[str] | None = None,
    exclude_genres: Sequence[str] | None = None,
    year_min: int | None = None,
    year_max: int | None = None,
    exclude: Sequence[MovieKey] | None = None,
    only: Sequence[MovieKey] | None = None,
    diversify: float | None = None,
) -> FilterRequest:
    """A checked ``FilterRequest``: ``InvalidFilterError`` names the first bad parameter."""
    for name, year in (("year_min", year_min), ("year_max", year_max)):
        if year is not None and not YEAR_MIN <= year <= YEAR_MAX:
            raise InvalidFilterError(name, f"must be a year in {YEAR_MIN}..{YEAR_MAX}", year)
    if year_min is not None and year_max is not None and year_min > year_max:
        raise InvalidFilterError(
            "year_min", f"{year_min} is after year_max {year_max}", year_min
        )
    if diversify is not None and not (math.isfinite(diversify) and 0.0 <= diversify <= 1.0):
        raise InvalidFilterError(DIVERSIFY, "must be a number in 0..1", diversify)
    return FilterRequest(
        genres=_names("genres", genres),
        exclude_genres=_names("exclude_genres", exclude_genres),
        year_min=year_min,
        year_max=year_max,
        exclude=_keys("exclude", exclude) or (),
        only=_keys("only", only),
        diversify=float(diversify or 0.0),
    )


def _names(param: str, values: Sequence[str] | None) -> tuple[str, ...]:
    if values is None:
        return ()
    out = tuple(dict.fromkeys(v.strip() for v in values))
    if not out or any(not v for v in out):
        raise InvalidFilterError(param, "takes comma-separated genre names, none empty", values)
    return out


def _keys(param: str, values: Sequence[MovieKey] | None) -> tuple[MovieKey, ...] | None:
    if values is None:
        return None
    if len(values) > MAX_IDS:
        raise InvalidFilterError(param, f"at most {MAX_IDS} ids, got {len(values)}", len(values))
    out: list[MovieKey] = []
    for value in values:
        if isinstance(value, bool):
            raise InvalidFilterError(param, "takes movie ids or external ids", value)
        key = value.strip() if isinstance(value, str) else value
        if key == "" or (isinstance(key, int) and not 1 <= key <= _INT4_MAX):
            raise InvalidFilterError(
                param, f"takes movie ids in 1..{_INT4_MAX} or external ids", value
            )
        out.append(key)
    if not out and param == "exclude":
        raise InvalidFilterError(param, "takes comma-separated movie ids", values)
    return tuple(dict.fromkeys(out))


def _split(params: Mapping[str, str], name: str) -> list[str] | None:
    raw = params.get(name)
    if raw is None:
        return None
    if raw.count(",") >= MAX_IDS:  # refuse before splitting a huge value
        raise InvalidFilterError(name, f"at most {MAX_IDS} values", raw.count(",") + 1)
    items = raw.split(",")
    if any(not item.strip() for item in items):
        raise InvalidFilterError(name, "takes a comma-separated list with no empty item", raw)
    return items


def _query_int(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    text = raw.strip()
    if not (text.isascii() and text.lstrip("-").isdigit() and len(text) <= 6):
        raise InvalidFilterError(name, f"must be a year in {YEAR_MIN}..{YEAR_MAX}", raw)
    return int(text)


def _query_float(params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return float(raw) if len(raw) <= 32 else math.nan
    except ValueError:
        raise InvalidFilterError(name, "must be a number in 0..1", raw) from None


AttributesSource = Callable[[], Awaitable[ItemAttributes]]


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

    @classmethod
    async def load(cls, session: AsyncSession) -> Eligibility:
        """Every movie's year and genres, in one query."""
        rows = await MovieRepository(session).attributes()
        return cls(
            ItemAttributes.from_records(
                [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
            )
        )

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
        for param, names in (("genres", request.genres), ("exclude_genres", request.exclude_genres)):
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
        """The items of ``model`` that ``criteria`` allow, less ``excluded`` movie ids."""
        return self.items(model).eligible(criteria, excluded=excluded)


def _resolve(param: str, keys: Iterable[MovieKey], external: Mapping[str, int]) -> list[int]:
    # As recsys.service.identities.resolve_user: an external id wins, then a numeric string is
    # our id; anything else names no movie.
    out = []
    for key in keys:
        if isinstance(key, int):
            out.append(key)
        elif key in external:
            out.append(external[key])
        elif key.isascii() and key.isdigit() and int(key) <= _INT4_MAX:
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
