"""The Jinja2 environment of the pages: autoescaping on, the filters the templates share."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from string import Formatter
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.routing import BaseRoute, Route

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def _when(value: datetime | str | None) -> str:
    # One format everywhere, in UTC: the API's times are UTC and a page must not guess zones.
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)  # not ISO 8601: shown as it was written
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _number(value: float | int | None, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "(defaults)"


# StrictUndefined: a misspelt variable is an error in the tests, not an empty cell in a page.
environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["when"] = _when
environment.filters["number"] = _number
environment.filters["params"] = _params


def path_for(request: Request, route: str, /, **params: Any) -> str:
    """The path of ``route`` (no scheme or host: right behind any proxy), root path
    included; parameter values are percent-encoded."""
    root = str(request.scope.get("root_path", ""))
    template = _path_formats(request.app).get(route)
    if template is not None and frozenset(params) == _FIELDS.get(template):
        return root + template.format(**{k: quote(str(v), safe="") for k, v in params.items()})
    # Mounts (/static) and anything the table does not hold: Starlette's own look-up.
    return root + str(request.app.url_path_for(route, **{k: str(v) for k, v in params.items()}))


# Starlette's url_path_for walks every route on each call: a user page links ~50 movies, and
# that walk was half of its rendering time. install_pages gives each app a table instead.
PATH_FORMATS_KEY = "pages_path_formats"
_FIELDS: dict[str, frozenset[str]] = {}


def path_formats(routes: Iterable[BaseRoute]) -> dict[str, str]:
    """Route name -> path format (``/ui/movies/{movie_id}``) of the plain routes in ``routes``."""
    formats = {}
    for route in routes:
        if isinstance(route, Route):  # APIRoute included
            formats[route.name] = route.path_format
            _FIELDS[route.path_format] = frozenset(
                name for _, name, _, _ in Formatter().parse(route.path_format) if name
            )
    return formats


def _path_formats(app: Any) -> dict[str, str]:
    formats: dict[str, str] = getattr(app.state, PATH_FORMATS_KEY, {})
    return formats


def render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """``template`` rendered with ``context`` (plus ``request``) as an HTML answer."""

    def url_for(route: str, /, **params: Any) -> str:
        return path_for(request, route, **params)

    html = environment.get_template(template).render(request=request, url_for=url_for, **context)
    # The pages show live data (a refreshed column must be fresh): never cached.
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
