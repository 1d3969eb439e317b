"""A TCP proxy a test controls, to make PostgreSQL vanish mid-test without touching it.

``async with TcpProxy(host, port) as proxy``: listens on a free local port and forwards each
connection to ``host:port``. ``cut()`` closes every open connection (what a database restart
does to a pool), ``refuse()`` turns new connections away (closed at once, as if nothing
listened), ``freeze()`` stops forwarding bytes (connections stay open, nothing answers: a
hung database), ``resume()`` forwards again.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

_CHUNK = 65536


class TcpProxy:
    """Forward 127.0.0.1:``port`` to ``target``; cut, refuse and resume on demand."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Future[tuple[None, None]]] = set()
        self._refusing = False
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.port = 0

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        self.resume()  # let frozen pipes run into the cut below and end
        await self.cut()
        await self._server.wait_closed()

    async def cut(self) -> None:
        """Reset every forwarded connection, both sides, and wait until their pipes end."""
        for writer in list(self._writers):
            writer.transport.abort()
        if self._flowing.is_set():  # frozen pipes end when resumed
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def refuse(self) -> None:
        """Close each new connection as soon as it arrives."""
        self._refusing = True

    def freeze(self) -> None:
        """Hold every byte in both directions (new connections are accepted, then hang)."""
        self._flowing.clear()

    def resume(self) -> None:
        """Accept and forward again (what was held while frozen is delivered)."""
        self._refusing = False
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            writer.close()
            return
        await self._flowing.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        task = asyncio.ensure_future(
            asyncio.gather(
                _pipe(reader, up_writer, self._flowing), _pipe(up_reader, writer, self._flowing)
            )
        )
        self._tasks.add(task)
        try:
            await task
        finally:
            self._tasks.discard(task)
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.close()


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flowing: asyncio.Event
) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(_CHUNK):
            await flowing.wait()
            writer.write(data)
            await writer.drain()
    writer.close()
