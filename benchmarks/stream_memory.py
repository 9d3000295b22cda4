"""Peak memory of streaming one huge message, received (issue 3) or sent (issue 15).

Receiving: a server process sends one binary message of ``--mib`` MiB (default 256) as a
single frame, written in 1 MiB pieces; the client, in this process, counts it through
``on_incomplete_frame`` and never holds it. With ``--reassemble`` the same message goes
through ``on_binary`` instead, for comparison (its growth is at least the message).

Sending (``--send``): the client sends one binary message of ``--mib`` MiB (default 1024)
with ``send_stream()`` from a generator of 64 KiB pieces; the server process reads and
discards it, then closes. The default ``max_buffered_amount`` (16 MiB) bounds what is queued.

The figure is the growth of the client's peak RSS (``ru_maxrss``) over the run, which the
issues bound at 32 MiB (256 MiB received, 1 GiB sent).

    python -m benchmarks.stream_memory            # 256 MiB, streamed in
    python -m benchmarks.stream_memory --reassemble --mib 64
    python -m benchmarks.stream_memory --send     # 1 GiB sent from a generator
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator

import trio

from trio_ws_events import Frame, WebSocket
from trio_ws_events._sansio.frames import (
    OP_BINARY,
    OP_CLOSE,
    CloseCode,
    accept_token,
    encode_close,
    encode_frame,
    encode_header,
)

CHUNK = b"\x5a" * 2**20
#: The server's close frame: 1000, no reason.
CLOSE_1000 = encode_frame(OP_CLOSE, encode_close(CloseCode.NORMAL_CLOSURE))


def _accept_one() -> socket.socket:
    """Listen, print the port, accept one connection and complete its handshake."""
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    conn, _ = listener.accept()
    head = b""
    while b"\r\n\r\n" not in head:
        head += conn.recv(4096)
    key = next(
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = accept_token(key.decode("ascii")).encode("ascii")
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    return conn


def serve(size: int) -> None:
    """The server process: one connection, one message of ``size`` bytes, then a close."""
    conn = _accept_one()
    conn.sendall(encode_header(OP_BINARY, size))
    for _ in range(size // len(CHUNK)):
        conn.sendall(CHUNK)
    conn.sendall(CLOSE_1000)
    conn.recv(4096)
    conn.close()


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    """Read exactly ``size`` bytes (a frame header: a few bytes)."""
    data = b""
    while len(data) < size:
        got = conn.recv(size - len(data))
        if not got:
            raise SystemExit("the client closed the connection early")
        data += got
    return data


def _discard(conn: socket.socket, size: int, buffer: memoryview) -> None:
    """Read ``size`` bytes into ``buffer`` over and over, keeping none of them."""
    while size:
        got = conn.recv_into(buffer, min(size, len(buffer)))
        if not got:
            raise SystemExit("the client closed the connection early")
        size -= got


def sink() -> None:
    """The server process for ``--send``: read one message, discard it, print its size."""
    conn = _accept_one()
    buffer = memoryview(bytearray(2**20))
    received = 0
    # Headers read here rather than by FrameReader, which holds a whole frame: the sink
    # discards each payload as it comes, so it never holds the message it measures.
    while True:
        b0, b1 = _recv_exactly(conn, 2)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", _recv_exactly(conn, 2))
        elif length == 127:
            (length,) = struct.unpack("!Q", _recv_exactly(conn, 8))
        _discard(conn, 4 + length, buffer)  # the mask and the payload
        if b0 & 0x0F < 8:
            received += length
            if b0 & 0x80:
                break
    conn.sendall(CLOSE_1000)
    conn.recv(4096)
    conn.close()
    print(received, flush=True)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def client(port: int, size: int, reassemble: bool) -> tuple[int, float]:
    received = 0
    ws = WebSocket(
        f"ws://127.0.0.1:{port}/",
        compression=None,
        max_message_size=None if reassemble else 2**20,
    )

    def piece(ws: WebSocket, frame: Frame) -> None:
        nonlocal received
        received += len(frame.data)

    def whole(ws: WebSocket, data: bytes) -> None:
        nonlocal received
        received += len(data)

    if reassemble:
        ws.on_binary += whole
    else:
        ws.on_incomplete_frame += piece
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        ws.open(nursery)
        await ws.wait_closed()
    elapsed = time.perf_counter() - start
    if ws.close_code != 1000:
        raise SystemExit(f"connection ended with {ws.close_code}: {ws.close_reason!r}")
    return received, elapsed


async def send_client(port: int, size: int) -> tuple[int, float]:
    piece = 2**16
    ws = WebSocket(f"ws://127.0.0.1:{port}/", compression=None, ping_interval=None)

    def pieces() -> Iterator[bytes]:
        for _ in range(size // piece):
            yield b"\x5a" * piece  # a fresh piece each time, as reading a file gives

    start = time.perf_counter()
    async with ws:
        await ws.send_stream(pieces())
        await ws.wait_closed()
    elapsed = time.perf_counter() - start
    if ws.close_code != 1000:
        raise SystemExit(f"connection ended with {ws.close_code}: {ws.close_reason!r}")
    return ws.stats.bytes_sent, elapsed


def run_send(mib: int) -> None:
    """Send ``mib`` MiB to the sink process and print the figures."""
    size = mib * 2**20
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.stream_memory", "--sink"], stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        before = peak_rss_mib()
        sent, elapsed = trio.run(send_client, port, size)
        growth = peak_rss_mib() - before
        received = int(server.stdout.readline())
    finally:
        server.wait(timeout=30)
    if received != size or sent != size:
        raise SystemExit(f"sent {sent} bytes, the server received {received}, of {size}")
    print(
        f"{mib} MiB message sent with send_stream() from a generator: {sent / 2**20:.0f} MiB in "
        f"{elapsed:.2f} s ({sent / 2**20 / elapsed:.0f} MiB/s); client peak RSS grew by "
        f"{growth:.1f} MiB (pid {os.getpid()})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, help="message size in MiB (256 in, 1024 out)")
    parser.add_argument("--reassemble", action="store_true", help="on_binary, not streaming")
    parser.add_argument("--send", action="store_true", help="send with send_stream()")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    if args.sink:
        sink()
        return
    if args.send:
        run_send(args.mib or 1024)
        return
    args.mib = args.mib or 256
    size = args.mib * 2**20
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.stream_memory", "--serve", str(size)],
        stdout=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        before = peak_rss_mib()
        received, elapsed = trio.run(client, port, size, args.reassemble)
        growth = peak_rss_mib() - before
    finally:
        server.wait(timeout=30)
    if received != size:
        raise SystemExit(f"received {received} bytes of {size}")
    mode = "reassembled through on_binary" if args.reassemble else "streamed"
    print(
        f"{args.mib} MiB message {mode}: {received / 2**20:.0f} MiB received in "
        f"{elapsed:.2f} s ({received / 2**20 / elapsed:.0f} MiB/s); client peak RSS grew by "
        f"{growth:.1f} MiB (pid {os.getpid()})"
    )


if __name__ == "__main__":
    main()
