"""Route classes for the routes that take a body: the body is parsed here, before FastAPI.

FastAPI answers JSON it cannot decode with a 422 ``json_invalid`` but a body that is not UTF-8
(``{"a": "\\xff"}``) or nested past the parser's recursion limit with an undocumented
``400 There was an error parsing the body``. ``JsonBodyRoute`` parses the body first and
answers every one of them as the same documented 422 ``json_invalid``; the parsed value is
kept on the request, so FastAPI does not parse it a second time.

``WriteRoute`` also checks the write token before reading anything (recsys.api.auth): a write
request without it is a 401 whatever its body, instead of a 422 about JSON it never needed to
read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from email.message import Message
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from recsys.api.auth import check_write_token

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _declares_json(content_type: str | None) -> bool:
    # The bodies FastAPI itself decodes as JSON: application/json and application/*+json.
    if not content_type:
        return False
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _json_invalid(position: int, reason: str) -> RequestValidationError:
    # FastAPI's own shape for undecodable JSON: one entry, loc ["body", character offset].
    return RequestValidationError(
        [
            {
                "type": "json_invalid",
                "loc": ("body", position),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": reason},
            }
        ]
    )


async def parse_json_body(request: Request) -> None:
    """Decode a JSON body once (Starlette keeps the value on the request) or raise the 422."""
    if not _declares_json(request.headers.get("content-type")):
        return
    if not await request.body():
        return  # no body: FastAPI's 422 says which field is missing
    try:
        await request.json()
    except json.JSONDecodeError as exc:
        raise _json_invalid(exc.pos, exc.msg) from exc
    except UnicodeDecodeError as exc:
        raise _json_invalid(exc.start, f"not {exc.encoding}: {exc.reason}") from exc
    except RecursionError as exc:
        raise _json_invalid(0, "nested too deeply") from exc


class JsonBodyRoute(APIRoute):
    """A route whose JSON body is decoded up front: undecodable is a 422, never a 400."""

    def get_route_handler(self) -> Handler:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            await parse_json_body(request)
            return await handle(request)

        return handler


class WriteRoute(APIRoute):
    """A write route: the token first (401/403 before the body is read), then the body."""

    def get_route_handler(self) -> Handler:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            check_write_token(request)
            await parse_json_body(request)
            return await handle(request)

        return handler
