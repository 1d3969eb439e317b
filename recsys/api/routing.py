"""Route classes for the routes that take a body: the body is parsed here, before FastAPI.

FastAPI answers JSON it cannot decode with a 422 ``json_invalid`` but a body that is not UTF-8
(``{"a": "\\xff"}``) or nested past the parser's recursion limit with an undocumented
``400 There was an error parsing the body``. ``JsonBodyRoute`` parses the body first and
answers every one of them as the same documented 422 ``json_invalid``; the parsed value is
kept on the request, so FastAPI does not parse it a second time.

The parser is stricter than Python's ``json`` in one way: ``NaN``, ``Infinity`` and numbers
beyond a float's range (``1e400``) are not JSON (RFC 8259), and a non-finite float in a body
made the 422 that echoes it crash into a 500 (JSON cannot encode it back); they are a 422
``json_invalid`` here. So is a body nested deeper than ``MAX_DEPTH``: no body of this API
nests past 3 levels, and a few hundred levels parsed fine but made the 422 that echoes the
input overflow the stack (a 500).

``WriteRoute`` also checks the write token before reading anything (recsys.api.auth): a write
request without it is a 401 whatever its body, instead of a 422 about JSON it never needed to
read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from email.message import Message
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from recsys.api.auth import check_write_token

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

# Objects and arrays inside one another; {"events": [{...}]} is 3.
MAX_DEPTH = 32


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


class _NotJsonNumberError(ValueError):
    """A number literal JSON has no value for: NaN, Infinity, or beyond a float's range."""

    def __init__(self, literal: str) -> None:
        super().__init__(f"{literal} is not a JSON number (not finite)")
        self.literal = literal


def _refuse_constant(literal: str) -> Any:
    raise _NotJsonNumberError(literal)


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _NotJsonNumberError(literal)
    return value


# One decoder for every request: json.loads with hooks builds a new one per call (+3 us).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def decode_json(body: bytes) -> Any:
    """``body`` as JSON, refusing NaN, Infinity and out-of-range numbers (RFC 8259).

    Bytes are decoded as ``json.loads`` decodes them (UTF-8, -16 or -32, detected).
    """
    return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))


def nesting_over(value: Any, limit: int) -> bool:
    """True when objects and arrays nest in ``value`` deeper than ``limit`` (no recursion)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


async def parse_json_body(request: Request) -> None:
    """Decode a JSON body once, for FastAPI to use, or raise the 422 ``json_invalid``."""
    if not _declares_json(request.headers.get("content-type")):
        return
    body = await request.body()
    if not body:
        return  # no body: FastAPI's 422 says which field is missing
    try:
        value = decode_json(body)
    except _NotJsonNumberError as exc:
        raise _json_invalid(max(body.find(exc.literal.encode()), 0), str(exc)) from exc
    except json.JSONDecodeError as exc:
        raise _json_invalid(exc.pos, exc.msg) from exc
    except UnicodeDecodeError as exc:
        raise _json_invalid(exc.start, f"not {exc.encoding}: {exc.reason}") from exc
    except RecursionError as exc:
        raise _json_invalid(0, f"nested deeper than {MAX_DEPTH} levels") from exc
    # Fewer brackets than the limit cannot nest past it (a count in C; the walk is Python).
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH and nesting_over(value, MAX_DEPTH):
        raise _json_invalid(0, f"nested deeper than {MAX_DEPTH} levels")
    # Where Starlette's request.json() keeps its value: FastAPI's own read finds it there
    # instead of parsing the body again (and without the strictness above).
    request._json = value


class JsonBodyRoute(APIRoute):
    """A route whose JSON body is decoded up front: undecodable is a 422, never a 400.

    A route that takes no body (``GET /ping``, ``POST /admin/reload``) never reads one.
    """

    def get_route_handler(self) -> Handler:
        handle = super().get_route_handler()
        if self.body_field is None:
            return handle

        async def handler(request: Request) -> Response:
            await parse_json_body(request)
            return await handle(request)

        return handler


class WriteRoute(APIRoute):
    """A write route: the token first (401/403 before the body is read), then the body."""

    def get_route_handler(self) -> Handler:
        handle = super().get_route_handler()
        takes_body = self.body_field is not None

        async def handler(request: Request) -> Response:
            check_write_token(request)
            if takes_body:
                await parse_json_body(request)
            return await handle(request)

        return handler
