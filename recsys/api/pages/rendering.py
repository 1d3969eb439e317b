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


# Starlette's url_path_for walks every route on each call: a user page links ~50 movies, and
# that walk was half of its rendering time. install_pages gives each app this table instead:
# route name -> its path format ("/ui/movies/{movie_id}") and the format's field names.
PATH_TABLE_KEY = "pages_path_table"
PathTable = dict[str, tuple[str, frozenset[str]]]


def path_table(routes: Iterable[BaseRoute]) -> PathTable:
    """The table of the plain routes (APIRoute included, not mounts) in ``routes``."""
    return {
        route.name: (
            route.path_format,
            frozenset(name for _, name, _, _ in Formatter().parse(route.path_format) if name),
        )
        for route in routes
        if isinstance(route, Route)
    }


def path_for(request: Request, route: str, /, **params: Any) -> str:
    """The path of ``route`` (no scheme or host: right behind any proxy), root path
    included; parameter values are percent-encoded."""
    root = str(request.scope.get("root_path", ""))
    table: PathTable = getattr(request.app.state, PATH_TABLE_KEY, {})
    entry = table.get(route)
    if entry is not None and entry[1] == frozenset(params):
        return root + entry[0].format(**{k: quote(str(v), safe="") for k, v in params.items()})
    # Mounts (/static) and the API's own routes: Starlette's look-up.
    return root + str(request.app.url_path_for(route, **{k: str(v) for k, v in params.items()}))


# Every script, style, image and font comes from this app, so the browser may refuse the rest:
# were a title ever to slip through unescaped, an injected inline script would not run.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    # The pages show live data (a refreshed column must be fresh): never cached.
    "Cache-Control": "no-store",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """``template`` rendered with ``context`` (plus ``request``) as an HTML answer."""

    def url_for(route: str, /, **params: Any) -> str:
        return path_for(request, route, **params)

    html = environment.get_template(template).render(request=request, url_for=url_for, **context)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
