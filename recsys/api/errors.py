"""One handler for every domain error, and the OpenAPI ``responses=`` that document them."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from recsys.api.schemas import ErrorOut
from recsys.service.recommend import RecommenderError, UnknownModelError, UnsupportedModelError

_DESCRIPTIONS = {
    401: "No bearer token: send `Authorization: Bearer <RECSYS_API_WRITE_TOKEN>`.",
    403: "Wrong bearer token, or write routes are off (no RECSYS_API_WRITE_TOKEN configured).",
    404: "Unknown user or movie.",
    503: "The model is configured but not loaded (no trained artifact yet), or the popularity "
    "fallback it needs is not.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the listed status codes with the error body.

    422 is left to FastAPI, which documents its validation body; an unknown ``model`` answers
    in that same shape (see ``domain_error_handler``).
    """
    return {code: {"model": ErrorOut, "description": _DESCRIPTIONS[code]} for code in codes}


async def domain_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """A ``RecommenderError`` as ``{"detail": message}`` with the error's status code."""
    if not isinstance(exc, RecommenderError):  # only registered for RecommenderError
        raise exc
    if isinstance(exc, UnknownModelError | UnsupportedModelError):
        # A bad `model` is a bad query parameter: answer like FastAPI's own 422, so clients
        # handle one shape for k=0 and model=nope alike.
        detail: Any = [
            {
                "type": "model_not_served",
                "loc": ["query", "model"],
                "msg": str(exc),
                "input": exc.model_type,
            }
        ]
    else:
        detail = str(exc)
    return JSONResponse({"detail": detail}, status_code=exc.status_code)


def install_error_handlers(app: FastAPI) -> None:
    """Route every domain error through ``domain_error_handler``."""
    app.add_exception_handler(RecommenderError, domain_error_handler)
