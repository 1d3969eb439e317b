"""A TCP proxy a test controls, to make PostgreSQL vanish mid-test without touching it.

``async with TcpProxy(host, port) as proxy``: listens on a free local port and forwards each
connection to ``host:port``. ``cut()`` closes every open connection (what a database restart
does to a pool), ``refuse()`` turns new connections away (closed at once, as if nothing
listened), ``freeze()`` stops forwarding bytes (connections stay open, nothing answers: a
hung database), ``reject(sqlstate, message)`` answers each new connection as a PostgreSQL that
refuses sessions (shutting down, starting up, too many clients) and closes it, ``resume()``
forwards again; ``send_fatal(sqlstate, message)`` writes a FATAL error to every open client
connection and from then on drops what either side sends on it, but leaves it open (a backend
that said goodbye, the moment before its socket closes), until ``cut()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from types import TracebackType

_CHUNK = 65536
# The protocol's pre-startup requests (SSLRequest, GSSENCRequest), answered "N": not supported.
_ENCRYPTION_REQUESTS = (80877103, 80877104)


class TcpProxy:
    """Forward 127.0.0.1:``port`` to ``target``; cut, refuse and resume on demand."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._clients: set[asyncio.StreamWriter] = set()  # the client side of each pair
        self._muted: set[asyncio.StreamWriter] = set()  # writers whose bytes are dropped
        self._tasks: set[asyncio.Future[tuple[None, None]]] = set()
        self._refusing = False
        self._rejecting: tuple[str, str] | None = None
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

    def reject(self, sqlstate: str, message: str) -> None:
        """Answer each new connection's startup with a FATAL ``sqlstate`` error, then close
        (what a PostgreSQL server does while ``pg_ctl stop`` or ``start`` is under way)."""
        self._rejecting = (sqlstate, message)

    async def send_fatal(self, sqlstate: str, message: str) -> None:
        """Write a FATAL ``sqlstate`` ErrorResponse to every open client connection, between
        two of the server's messages (the connections are idle), then mute them both ways."""
        for writer in list(self._clients):
            writer.write(_error_response(sqlstate, message))
            with contextlib.suppress(OSError):
                await writer.drain()
        self._muted.update(self._writers)

    def freeze(self) -> None:
        """Hold every byte in both directions (new connections are accepted, then hang)."""
        self._flowing.clear()

    def resume(self) -> None:
        """Accept and forward again (what was held while frozen is delivered)."""
        self._refusing = False
        self._rejecting = None
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            writer.close()
            return
        if self._rejecting is not None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                await _reject_startup(reader, writer, *self._rejecting)
            writer.close()
            return
        await self._flowing.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        self._clients.add(writer)
        task = asyncio.ensure_future(
            asyncio.gather(
                _pipe(reader, up_writer, self._flowing, self._muted),
                _pipe(up_reader, writer, self._flowing, self._muted),
            )
        )
        self._tasks.add(task)
        try:
            await task
        finally:
            self._tasks.discard(task)
            self._clients.discard(writer)
            self._muted.difference_update((writer, up_writer))
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.close()


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    flowing: asyncio.Event,
    muted: set[asyncio.StreamWriter],
) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(_CHUNK):
            await flowing.wait()
            if writer in muted:
                continue
            writer.write(data)
            await writer.drain()
    writer.close()


async def _reject_startup(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sqlstate: str, message: str
) -> None:
    # Frontend/backend protocol v3: decline encryption requests, read the StartupMessage, answer
    # an ErrorResponse.
    while True:
        (length,) = struct.unpack("!i", await reader.readexactly(4))
        body = await reader.readexactly(length - 4)
        if len(body) == 4 and struct.unpack("!i", body)[0] in _ENCRYPTION_REQUESTS:
            writer.write(b"N")
            continue
        break
    writer.write(_error_response(sqlstate, message))
    await writer.drain()


def _error_response(sqlstate: str, message: str) -> bytes:
    # 'E', the length, typed NUL-terminated fields, a final NUL.
    fields = b"".join(
        code + value.encode() + b"\0"
        for code, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message))
    )
    return b"E" + struct.pack("!i", len(fields) + 5) + fields + b"\0"
