"""Domain error types -> HTTP statuses (one table), the handler, and the routes' ``responses=``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from recsys.api.methods import install_method_handler
from recsys.api.schemas.common import ErrorOut
from recsys.api.validation import encodable, install_validation_handler
from recsys.service.availability import UNAVAILABLE_TYPES
from recsys.service.errors import (
    DatabaseUnavailableError,
    ExternalIdConflictError,
    FallbackUnavailableError,
    ModelUnavailableError,
    ServiceError,
    UnknownExternalUserError,
    UnknownModelError,
    UnknownMovieError,
    UnknownUserError,
    UnsupportedModelError,
)
from recsys.service.filters import InvalidFilterError

# The status each domain error answers with; a type not listed here (and none of its bases) is
# a 500. The service knows nothing of HTTP.
STATUS: dict[type[ServiceError], int] = {
    UnknownUserError: 404,
    UnknownMovieError: 404,
    UnknownExternalUserError: 404,
    ExternalIdConflictError: 409,
    UnknownModelError: 422,
    UnsupportedModelError: 422,
    InvalidFilterError: 422,
    ModelUnavailableError: 503,
    FallbackUnavailableError: 503,
    DatabaseUnavailableError: 503,
}

# Headers a status answers with beside the body: a 503 for a lost database is worth a retry.
_HEADERS: dict[type[ServiceError], dict[str, str]] = {
    DatabaseUnavailableError: {"Retry-After": "1"},
}

_DESCRIPTIONS = {
    401: "No bearer token: send `Authorization: Bearer <RECSYS_API_WRITE_TOKEN>`.",
    403: "Wrong bearer token, or write routes are off (no RECSYS_API_WRITE_TOKEN configured).",
    404: "Unknown user or movie.",
    409: "The external id belongs to another movie.",
    413: "Request body over RECSYS_MAX_BODY_BYTES (default 4 MiB).",
    503: "The model is configured but not loaded (no trained artifact yet), the popularity "
    "fallback it needs is not, or the database is unavailable (with `Retry-After`).",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the listed status codes with the error body.

    422 is left to FastAPI, which documents its validation body; an unknown ``model`` answers
    in that same shape (see ``domain_error_handler``).
    """
    return {code: {"model": ErrorOut, "description": _DESCRIPTIONS[code]} for code in codes}


def status_of(exc: ServiceError) -> int:
    """The HTTP status of a domain error: its type's entry in ``STATUS``, else 500."""
    for cls in type(exc).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    return 500


async def domain_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """A ``ServiceError`` as ``{"detail": message}`` with its type's status code."""
    if not isinstance(exc, ServiceError):  # only registered for ServiceError
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
    elif isinstance(exc, InvalidFilterError):
        # A bad filter is a bad parameter too: the query's on GET, the body's on POST.
        where = "body" if _request.method == "POST" else "query"
        detail = encodable(
            [
                {
                    "type": "invalid_filter",
                    "loc": [where, exc.param],
                    "msg": str(exc),
                    "input": exc.value,
                }
            ]
        )
    else:
        detail = str(exc)
    return JSONResponse(
        {"detail": detail}, status_code=status_of(exc), headers=_HEADERS.get(type(exc))
    )


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A lost database (the service says which errors mean that) as a 503; anything else
    re-raised, so a real bug still answers 500."""
    error = request.state.recsys.database.translate(exc)
    if error is None:
        raise exc
    return await domain_error_handler(request, error)


def install_error_handlers(app: FastAPI) -> None:
    """Route every domain error through ``domain_error_handler``, and 422s through the handler
    that can echo any input (recsys.api.validation)."""
    app.add_exception_handler(ServiceError, domain_error_handler)
    install_method_handler(app)
    for exc_type in UNAVAILABLE_TYPES:
        app.add_exception_handler(exc_type, database_error_handler)
    install_validation_handler(app)
