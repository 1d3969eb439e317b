"""405 answers list every method of the path, not only those of the first route matching it.

Starlette answers a method a path does not take with the ``Allow`` of the first route whose path
matched; ``/movies/{movie_id}`` has three routes in two routers (GET, and the catalogue's PUT
and DELETE), so that header said ``GET`` while the OpenAPI document lists all three. This
handler takes ``Allow`` from the document itself (the contract clients read); every other
HTTPException, and a path the document does not list (the HTML pages), is answered as FastAPI
answers it.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.responses import Response

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def allowed_methods(openapi: dict[str, Any], path: str) -> set[str]:
    """The methods the document lists for the path templates ``path`` matches."""
    allowed: set[str] = set()
    for template, item in openapi.get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            allowed |= {m.upper() for m in item if m in _METHODS}
    return allowed


async def method_not_allowed_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's HTTPException answer, with a 405's ``Allow`` from the OpenAPI document."""
    if not isinstance(exc, HTTPException):  # only registered for HTTPException
        raise exc
    if exc.status_code == 405 and isinstance(request.app, FastAPI):
        allowed = allowed_methods(request.app.openapi(), request.url.path)
        if allowed:
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(allowed))}
    return await http_exception_handler(request, exc)


def install_method_handler(app: FastAPI) -> None:
    """Register ``method_not_allowed_handler``."""
    app.add_exception_handler(HTTPException, method_not_allowed_handler)
