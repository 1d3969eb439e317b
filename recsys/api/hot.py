"""``GET /users/{user_id}/recommendations`` answered before FastAPI's router, for plain requests.

The route is the product's hot path. Through FastAPI a request walks eight included routers to
find it and solves its parameters through pydantic (together ~35% of an ALS answer's CPU in
process, py-spy, benchmarks/README.md); the answer itself is already encoded once with orjson
(recsys.api.encoding). ``RequestMiddleware`` asks ``HotRecommendations.parse`` first: a request
in the plain form every client sends (a decimal user id in range, at most ``k`` and ``model``,
each once, in canonical spelling) is answered here; anything else, an error above all, goes on
to the FastAPI route, which stays registered and documented as it was (the OpenAPI document
does not change). So every 422 comes from the one FastAPI route and cannot differ, and the
parser never has to be as lenient as pydantic: what it does not recognise it leaves alone.

Domain errors (404 unknown user, 422 a model the service does not load, 503) are answered by
the app's own exception handlers (recsys.api.errors), the bodies the FastAPI route gives.

The answer itself is ``recommendations_json``, which the FastAPI route calls too: change what
the route does there, not in either caller. To take more query parameters (experiment arms,
say), add a parser to ``QUERY`` and pass the value on in ``HotRecommendations.answer`` and in
the FastAPI route; a parameter the parser does not know, or a value it refuses, goes to FastAPI.
The filters (recsys.service.filters) are such parameters: a filtered request is FastAPI's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from recsys.api.deps import STATE_KEY
from recsys.api.encoding import recommendations_body
from recsys.api.schemas.common import ID_MAX, K_MAX
from recsys.service.choices import MODEL_TYPES
from recsys.service.filters import FilterRequest
from recsys.service.request_context import note_answer, note_user
from recsys.service.runtime import Runtime

PREFIX = "/users/"
SUFFIX = "/recommendations"
DEFAULT_K = 10  # the FastAPI route's default (recsys.api.routes.users)
_ID_DIGITS = len(str(ID_MAX))
_K_DIGITS = len(str(K_MAX))

# A query parameter's raw value -> its value, or None: not plain, let FastAPI answer.
QueryParser = Callable[[str], Any]


def _plain_int(raw: str, digits: int, low: int, high: int) -> int | None:
    # ASCII digits only: str.isdigit() alone accepts other scripts' digits ("٣"), which
    # pydantic reads differently; signs, spaces, "1_0" and "1.0" go to FastAPI too.
    if not (0 < len(raw) <= digits and raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if low <= value <= high else None


def _k(raw: str) -> int | None:
    return _plain_int(raw, _K_DIGITS, 1, K_MAX)


def _model(raw: str) -> str | None:
    # Registered types only (what ModelType accepts); whether this pod loads it is the service's
    # answer (a 422 or 503 through the app's handlers, as on the FastAPI route).
    return raw if raw in MODEL_TYPES else None


QUERY: Mapping[str, QueryParser] = {"k": _k, "model": _model}


def parse_query(raw: bytes, parsers: Mapping[str, QueryParser]) -> dict[str, Any] | None:
    """``raw`` as {name: value} when every pair is plain and known, each name once; else None."""
    params: dict[str, Any] = {}
    if not raw:
        return params
    # Escapes and "+" are decoded by FastAPI's parser; plain ASCII needs no decoding.
    if b"%" in raw or b"+" in raw or not raw.isascii():
        return None
    for pair in raw.decode("ascii").split("&"):
        name, sep, text = pair.partition("=")
        parser = parsers.get(name)
        if not sep or parser is None or name in params:
            return None
        value = parser(text)
        if value is None:
            return None
        params[name] = value
    return params


class HotRecommendations:
    """The recommendations route's plain requests, parsed and answered without FastAPI."""

    def __init__(self, route: APIRoute, app: FastAPI) -> None:
        self.route = route  # what the router would put in scope["route"] (metrics, logs)
        self._app = app

    @classmethod
    def of(
        cls, app: FastAPI, router: APIRouter, endpoint: Callable[..., Any]
    ) -> HotRecommendations:
        """For the route of ``router`` (included in ``app``) whose endpoint is ``endpoint``."""
        for route in router.routes:
            if isinstance(route, APIRoute) and route.endpoint is endpoint:
                return cls(route, app)
        raise LookupError(f"no route for {endpoint.__qualname__}")

    def parse(self, scope: Scope) -> tuple[int, dict[str, Any]] | None:
        """(user id, query values) of a plain GET of the route, else None."""
        path: str = scope["path"]
        if (
            scope["method"] != "GET"
            or not path.startswith(PREFIX)
            or not path.endswith(SUFFIX)
            or scope.get("root_path")
        ):
            return None
        user_id = _plain_int(path[len(PREFIX) : -len(SUFFIX)], _ID_DIGITS, 1, ID_MAX)
        if user_id is None:
            return None
        params = parse_query(scope["query_string"], QUERY)
        if params is None:
            return None
        return user_id, params

    async def answer(
        self, parsed: tuple[int, dict[str, Any]], scope: Scope, receive: Receive, send: Send
    ) -> None:
        """What the FastAPI route answers for the parsed request (errors through its handlers)."""
        user_id, params = parsed
        scope["route"] = self.route
        runtime: Runtime = scope["state"][STATE_KEY]
        try:
            body = await recommendations_json(
                runtime, user_id, k=params.get("k", DEFAULT_K), model=params.get("model")
            )
        except Exception as exc:
            handler = _handler_for(self._app, exc)
            if handler is None:
                raise
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                # Starlette's Response sends these two, in this order.
                "headers": [
                    (b"content-length", str(len(body)).encode("ascii")),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def recommendations_json(
    runtime: Runtime,
    user_id: int,
    *,
    k: int,
    model: str | None,
    filters: FilterRequest | None = None,
) -> bytes:
    """The recommendations route's answer as JSON bytes: the one body both paths run.

    The FastAPI route (recsys.api.routes.users) and the hot route both call this, so what the
    route does (notes for the access line, the service call, the encoding) lives in one place.
    ``filters``: ``parse_filter_query``'s answer (None: unfiltered). Only the FastAPI route
    passes them: a filter parameter is not in ``QUERY``, so such a request never runs hot.
    """
    note_user(user_id)
    result = await runtime.service.recommend(
        runtime.read_sessions,
        user_id,
        model_type=model or runtime.default_model,
        k=k,
        filters=filters,
    )
    note_answer(model=result.model, version=result.model_version, fallback=result.fallback)
    return recommendations_body(result)


def _handler_for(app: FastAPI, exc: Exception) -> Any:
    # The handler Starlette's ExceptionMiddleware would pick: the nearest class in the MRO.
    handlers = app.exception_handlers
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            return handler
    return None
