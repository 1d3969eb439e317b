"""What the request middleware (recsys.api.observe) adds to one request, in process.

Calls a do-nothing ASGI app (it answers a 15-byte JSON body) bare and through
``RequestMiddleware`` in alternating rounds, and prints the CPU nanoseconds per call of each and
the difference, for: a probe GET (``/healthz``: id, metrics, its access line skipped at INFO), a
GET of a logged route with its access line written in the text and in the JSON format (to
/dev/null, so the write is a syscall but no terminal), and a POST (the body counted). No
server: the difference is all the middleware and the access line cost. For reference, the
line uvicorn's own access log wrote per request before ``recsys serve`` turned it off (the same
call and formatter as uvicorn's, to /dev/null), alternating with ours. Run:

    uv run python benchmarks/middleware.py              # 5 rounds of 100,000 calls
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any

from recsys.api.observe import RequestMiddleware
from recsys.service.logs import ACCESS_LOGGER, process_formatter


@dataclass(frozen=True)
class _Route:
    path: str


_BODY = b'{"status":"ok"}'


def _app_for(template: str) -> Any:
    route = _Route(template)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["route"] = route  # as the router sets it once it matched
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"15")]}
        )
        await send({"type": "http.response.body", "body": _BODY})

    return app


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b'{"user_id": 1, "k": 3}', "more_body": False}


async def _send(message: Any) -> None:
    return None


def _scope(method: str, path: str) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")]
    if method == "POST":
        headers.append((b"content-length", b"22"))
    return {"type": "http", "method": method, "path": path, "headers": headers}


async def _ns_per_call(app: Any, method: str, path: str, calls: int) -> float:
    start = time.process_time_ns()
    for _ in range(calls):
        await app(_scope(method, path), _receive, _send)
    return (time.process_time_ns() - start) / calls


def _log_to_devnull(log_format: str | None) -> None:
    access = logging.getLogger(ACCESS_LOGGER)
    for handler in access.handlers[:]:
        access.removeHandler(handler)
        handler.close()
    access.propagate = False
    if log_format is None:
        access.setLevel(logging.WARNING)  # no access line at all
        return
    access.setLevel(logging.INFO)
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115  # closed above
    handler.setFormatter(process_formatter("json" if log_format == "json" else "text"))
    access.addHandler(handler)


CASES = (
    # label, method, path, route template, access log format (None: no line)
    ("GET /healthz (probe: no line at INFO)", "GET", "/healthz", "/healthz", "text"),
    ("GET, access line off", "GET", "/users/1/x", "/users/{user_id}/x", None),
    ("GET, access line text", "GET", "/users/1/x", "/users/{user_id}/x", "text"),
    ("GET, access line json", "GET", "/users/1/x", "/users/{user_id}/x", "json"),
    ("POST (body counted), no line", "POST", "/invocations", "/invocations", None),
)


def _uvicorn_access_line() -> Any:
    # What uvicorn's httptools protocol calls per answer with its access log on, through the
    # logger, handler and formatter its LOGGING_CONFIG sets up (colours off: not a terminal).
    from uvicorn.logging import AccessFormatter
    from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

    logger = logging.getLogger("benchmark.uvicorn.access")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115  # lives as long
    fmt = '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'
    handler.setFormatter(AccessFormatter(fmt=fmt, use_colors=False))
    logger.addHandler(handler)
    scope = {
        "client": ("127.0.0.1", 50000),
        "method": "GET",
        "path": "/users/1/recommendations",
        "query_string": b"k=10&model=als",
        "root_path": "",
        "http_version": "1.1",
    }

    def line() -> None:
        logger.info(
            '%s - "%s %s HTTP/%s" %d',
            get_client_addr(scope),
            scope["method"],
            get_path_with_query_string(scope),
            scope["http_version"],
            200,
        )

    return line


def _ns_per_line(line: Any, calls: int) -> float:
    start = time.process_time_ns()
    for _ in range(calls):
        line()
    return (time.process_time_ns() - start) / calls


async def main(rounds: int, calls: int) -> None:
    print(f"load average {os.getloadavg()[0]:.2f}; {rounds} rounds of {calls:,} calls")
    for label, method, path, template, log_format in CASES:
        _log_to_devnull(log_format)
        app = _app_for(template)
        wrapped = RequestMiddleware(app, max_body_bytes=4 * 1024 * 1024)
        bare, through = [], []
        for _ in range(rounds):
            bare.append(await _ns_per_call(app, method, path, calls))
            through.append(await _ns_per_call(wrapped, method, path, calls))
        b, w = statistics.median(bare), statistics.median(through)
        print(f"{label:38}: bare {b:6.0f} ns, through it {w:6.0f} ns, added {w - b:6.0f} ns")
    # Ours alone (through the middleware, line on minus line off) against uvicorn's alone.
    app = _app_for("/users/{user_id}/x")
    wrapped = RequestMiddleware(app, max_body_bytes=4 * 1024 * 1024)
    uvicorn_line = _uvicorn_access_line()
    ours: dict[str, list[float]] = {"text": [], "json": []}
    theirs = []
    for _ in range(rounds):
        _log_to_devnull(None)
        off = await _ns_per_call(wrapped, "GET", "/users/1/x", calls)
        for log_format, figures in ours.items():
            _log_to_devnull(log_format)
            figures.append(await _ns_per_call(wrapped, "GET", "/users/1/x", calls) - off)
        theirs.append(_ns_per_line(uvicorn_line, calls))
    print(
        f"one access line: ours text {statistics.median(ours['text']):.0f} ns, ours json "
        f"{statistics.median(ours['json']):.0f} ns, uvicorn's {statistics.median(theirs):.0f} ns"
    )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.calls))
