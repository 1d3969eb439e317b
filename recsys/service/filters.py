"""Request filters (genres, years, exclude / allow lists) and diversity: parse, check, resolve.

``parse_filter_query`` reads them from a query string's raw values (the API's recommendation
and similar-movie routes read ``request.query_params`` with it, so the unfiltered hot path
pays one membership test, and another parser of the query string can call it as is);
``filter_request`` checks the same fields given as values (the ``/invocations`` body, the
CLI). Both raise ``InvalidFilterError`` naming the parameter. ``recsys.service.eligibility``
resolves a request against the catalogue and makes the mask a model ranks within.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recsys.service.errors import ServiceError

# Query / body parameters this module reads, in the order the docs list them.
FILTER_PARAMS = ("genres", "exclude_genres", "year_min", "year_max", "exclude", "only")
DIVERSIFY = "diversify"
QUERY_PARAMS = (*FILTER_PARAMS, DIVERSIFY)
MAX_IDS = 1000
YEAR_MIN, YEAR_MAX = 1800, 2200
INT4_MAX = 2**31 - 1
EXTERNAL_ID_MAX = 200  # as recsys data import-events stores them
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

MovieKey = int | str


class InvalidFilterError(ServiceError, ValueError):
    """A filter parameter is malformed or names something the catalogue does not have."""

    def __init__(self, param: str, message: str, value: Any = None) -> None:
        self.param = param
        self.value = value
        self.reason = message
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
        raise InvalidFilterError("year_min", f"{year_min} is after year_max {year_max}", year_min)
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
        if isinstance(key, str) and (len(key) > EXTERNAL_ID_MAX or _UNSTORABLE.search(key)):
            # No stored external id is longer or holds NUL / a lone surrogate: refused here,
            # before the look-up (PostgreSQL cannot even compare such a string).
            raise InvalidFilterError(param, f"no movie has the id {key[:40]!r}", key[:40])
        if key == "" or (isinstance(key, int) and not 1 <= key <= INT4_MAX):
            raise InvalidFilterError(
                param, f"takes movie ids in 1..{INT4_MAX} or external ids", value
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
