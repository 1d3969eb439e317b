"""FastAPI's 422 handler, made safe to echo any input back.

FastAPI's own handler puts each error's ``input`` in the body and encodes it as UTF-8: an input
holding a lone surrogate (JSON allows ``"\\ud800"``) made the 422 itself crash into a 500. Here
every string in the errors is made encodable first, the surrogate echoed as its escape text.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def encodable(value: Any) -> Any:
    """``value`` (JSON-like) with every string UTF-8 can encode: lone surrogates as ``\\udXXX``."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {encodable(key): encodable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encodable(item) for item in value]
    return value


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 body (``{"detail": [errors]}``), every string in it encodable."""
    if not isinstance(exc, RequestValidationError):  # only registered for it
        raise exc
    return JSONResponse(
        status_code=422, content={"detail": encodable(jsonable_encoder(exc.errors()))}
    )


def install_validation_handler(app: FastAPI) -> None:
    """Answer request validation errors through ``validation_error_handler``."""
    app.add_exception_handler(RequestValidationError, validation_error_handler)
