"""``recsys predict``'s filter options: the API's query parameters, checked by the same code.

Each option's value is what the query string would carry (``--genres Comedy,Drama``), so the
CLI and ``GET /users/{id}/recommendations`` parse with one function
(``recsys.service.filters.parse_filter_query``) and refuse the same input with the same words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from recsys.cli._common import bad_parameter

if TYPE_CHECKING:
    from recsys.service.filters import FilterRequest, InvalidFilterError

_IDS = "comma-separated movie ids or external ids, at most 1000"

Genres = Annotated[
    str | None,
    typer.Option(help="Only movies with any of these genres, comma-separated (e.g. Comedy,Drama)."),
]
ExcludeGenres = Annotated[
    str | None, typer.Option(help="No movie with any of these genres, comma-separated.")
]
YearMin = Annotated[
    int | None, typer.Option(help="Only movies released in this year or later (1800..2200).")
]
YearMax = Annotated[
    int | None, typer.Option(help="Only movies released in this year or earlier (1800..2200).")
]
Exclude = Annotated[str | None, typer.Option(help=f"Never these movies: {_IDS}.")]
Only = Annotated[str | None, typer.Option(help=f"Only these movies (an allow-list): {_IDS}.")]
Diversify = Annotated[
    float | None,
    typer.Option(help="0..1: re-rank for genre variety (maximal marginal relevance; 0 = off)."),
]


def filter_options(
    *,
    genres: str | None,
    exclude_genres: str | None,
    year_min: int | None,
    year_max: int | None,
    exclude: str | None,
    only: str | None,
    diversify: float | None,
) -> FilterRequest | None:
    """The options as a checked ``FilterRequest`` (None when none is given); exit 2 if bad."""
    from recsys.service.filters import InvalidFilterError, parse_filter_query

    raw = {
        "genres": genres,
        "exclude_genres": exclude_genres,
        "year_min": None if year_min is None else str(year_min),
        "year_max": None if year_max is None else str(year_max),
        "exclude": exclude,
        "only": only,
        "diversify": None if diversify is None else repr(diversify),
    }
    try:
        return parse_filter_query({name: value for name, value in raw.items() if value is not None})
    except InvalidFilterError as exc:
        refuse(exc)


def refuse(exc: InvalidFilterError) -> NoReturn:
    """Exit 2 naming the option (``--year-min``) of the parameter ``exc`` is about."""
    bad_parameter("--" + exc.param.replace("_", "-"), exc.reason)
