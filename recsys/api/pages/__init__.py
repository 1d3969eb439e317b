"""The HTML pages for people (issue 15): server-rendered with Jinja2, a little plain JavaScript.

``install_pages(app)`` adds the page routes (left out of the OpenAPI document, so the JSON
contract is unchanged) and serves ``static/`` at ``/static``. The pages read through the service
layer like the JSON routes; the like/watch buttons post to the JSON ``POST /events`` from the
browser.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from recsys.api.pages.rendering import PATH_TABLE_KEY, path_table
from recsys.api.pages.routes import router

STATIC_DIR = Path(__file__).resolve().parent / "static"

__all__ = ["STATIC_DIR", "install_pages", "router"]


def install_pages(app: FastAPI) -> None:
    """The page routes and their static files (CSS, JS) on ``app``."""
    app.include_router(router)
    setattr(app.state, PATH_TABLE_KEY, path_table(router.routes))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
