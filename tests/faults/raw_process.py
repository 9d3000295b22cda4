"""A raw WebSocket server in a process of its own, for the tests that kill it with SIGKILL.

Usage: ``python raw_process.py MODE``. It listens on a free port of 127.0.0.1, prints the port
on the first line of stdout, accepts one connection, answers the handshake, then, by mode:

``partial``
    sends the header of a 1 MiB binary frame and its first 1,000 bytes, prints ``SENT`` and
    waits, so that the client is in the middle of a message when the process is killed.

Blocking sockets only: nothing in it has to be cancelled, the test kills it.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peers.raw_server import Opcode, accept_key, build_frame

#: How long the process waits to be killed before giving up on its own.
LIFETIME = 60.0


def _handshake(conn: socket.socket) -> None:
    head = b""
    while b"\r\n\r\n" not in head:
        data = conn.recv(4096)
        if not data:
            raise SystemExit("the client left during the handshake")
        head += data
    key = ""
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "sec-websocket-key":
            key = value.strip()
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n".encode("latin-1")
    )


def main(mode: str) -> None:
    """Serve one connection in ``mode`` (see the module docstring)."""
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    conn, _ = listener.accept()
    _handshake(conn)
    if mode == "partial":
        frame = build_frame(Opcode.BINARY, b"p" * 1000, declared_length=2**20)
        conn.sendall(frame)
        print("SENT", flush=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    time.sleep(LIFETIME)


if __name__ == "__main__":
    main(sys.argv[1])
