"""Bearer-token auth for the write routes (events, admin): one shared token from settings."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from recsys.service.runtime import Runtime

# auto_error=False: a missing header is our 401 with our message, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="RECSYS_API_WRITE_TOKEN")


async def require_write_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse the request unless it carries the configured write token.

    403 when the service has no token configured (write routes are off), 401 when the header
    is missing or not a bearer token, 403 when the token is wrong. The comparison takes the
    same time whatever the token, so it leaks nothing about how much of a guess was right.
    """
    runtime: Runtime = request.state.recsys
    expected = runtime.settings.api_write_token
    if expected is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "write routes are off: set RECSYS_API_WRITE_TOKEN to enable them",
        )
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token: send 'Authorization: Bearer <RECSYS_API_WRITE_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    given = credentials.credentials.encode()
    if not hmac.compare_digest(given, expected.get_secret_value().encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "wrong bearer token")


WriteAuth = Depends(require_write_token)
