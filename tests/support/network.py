"""Local ports for the servers the tests start (GCS emulator, uvicorn)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_in(ports: range) -> int:
    """The first port of ``ports`` on 127.0.0.1 that nothing listens on right now."""
    for port in ports:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError(f"every port in {ports.start}..{ports.stop - 1} is taken")
