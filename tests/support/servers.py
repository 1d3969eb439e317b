"""``recsys serve`` as a real process on a free port, for the tests that need more than one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from tests.support.network import free_port


@contextmanager
def recsys_serve(
    env: Mapping[str, str],
    log: Path,
    *args: str,
    ready: str = "/readyz",
    port: int | None = None,
    stderr: Path | None = None,
) -> Iterator[httpx.Client]:
    """``recsys serve ARGS`` with ``env`` (RECSYS_* settings) until ``ready`` answers 200.

    On ``port`` when given (a test that must stay inside a port range), else a free one.

    Yields a client on its base URL; the process is stopped on exit. Its output goes to
    ``log`` (stdout to ``log`` and stderr to ``stderr`` when that is given). Fails with the
    server's log when it exits or is not ready within 90 s (start-up imports take seconds).
    """
    with recsys_serve_process(env, log, *args, ready=ready, port=port, stderr=stderr) as (
        http,
        _process,
    ):
        yield http


@contextmanager
def recsys_serve_process(
    env: Mapping[str, str],
    log: Path,
    *args: str,
    ready: str = "/readyz",
    port: int | None = None,
    stderr: Path | None = None,
) -> Iterator[tuple[httpx.Client, subprocess.Popen[bytes]]]:
    """``recsys_serve``, also yielding the server's process (to find its workers)."""
    port = port if port is not None else free_port()
    recsys = Path(sys.executable).with_name("recsys")
    with ExitStack() as files:
        out = files.enter_context(log.open("wb"))
        err = subprocess.STDOUT if stderr is None else files.enter_context(stderr.open("wb"))
        process = subprocess.Popen(
            [str(recsys), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=err,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            deadline = time.monotonic() + 90
            while True:
                if process.poll() is not None:
                    raise AssertionError(f"recsys serve exited:\n{log.read_text()}")
                try:
                    if http.get(ready).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"recsys serve not ready in 90 s:\n{log.read_text()}")
                time.sleep(0.2)
            yield http, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
