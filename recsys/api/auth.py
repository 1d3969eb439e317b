"""Bearer-token auth for the write routes (events, admin): one shared token from settings.

The token is checked before anything of the request is read (``WriteRoute``): a request
without it answers 401 whatever its body, broken JSON included. The ``WriteAuth`` dependency
checks the same again and is what puts the bearer scheme in the OpenAPI document.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from recsys.service.runtime import Runtime

# auto_error=False: a missing header is our 401 with our message, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="RECSYS_API_WRITE_TOKEN")


def check_write_token(request: Request) -> None:
    """Raise the ``HTTPException`` a request without the configured write token answers.

    403 when the service has no token configured (write routes are off), 401 when the header
    is missing or not a bearer token, 403 when the token is wrong. The comparison takes the
    same time whatever the token, so it leaks nothing about how much of a guess was right.
    Reads the headers only: never the body.
    """
    runtime: Runtime = request.state.recsys
    expected = runtime.settings.api_write_token
    if expected is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "write routes are off: set RECSYS_API_WRITE_TOKEN to enable them",
        )
    # As HTTPBearer reads it: "<scheme> <credentials>", the scheme in any case.
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token: send 'Authorization: Bearer <RECSYS_API_WRITE_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # Bytes: compare_digest refuses str holding anything but ASCII.
    if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "wrong bearer token")


async def require_write_token(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The write-token check as a dependency (documents the bearer scheme in OpenAPI)."""
    check_write_token(request)


WriteAuth = Depends(require_write_token)
