"""Peak memory of streaming one huge message through ``on_incomplete_frame`` (issue 3).

A server process sends one binary message of ``--mib`` MiB (default 256) as a single frame,
written in 1 MiB pieces; the client, in this process, counts it through
``on_incomplete_frame`` and never holds it. The figure is the growth of the client's peak RSS
(``ru_maxrss``) over the run, which the issue bounds at 32 MiB for 256 MiB. With
``--reassemble`` the same message goes through ``on_binary`` instead, for comparison (its
growth is at least the message).

    python -m benchmarks.stream_memory            # 256 MiB, streamed
    python -m benchmarks.stream_memory --reassemble --mib 64
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import socket
import struct
import subprocess
import sys
import time
from base64 import b64encode

import trio

from trio_ws_events import Frame, WebSocket

CHUNK = b"\x5a" * 2**20


def serve(size: int) -> None:
    """The server process: one connection, one message of ``size`` bytes, then a close."""
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
    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    accept = b64encode(hashlib.sha1(key + guid).digest())  # RFC 6455 mandates SHA-1
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    conn.sendall(bytes((0x82, 127)) + struct.pack("!Q", size))
    for _ in range(size // len(CHUNK)):
        conn.sendall(CHUNK)
    conn.sendall(b"\x88\x02\x03\xe8")  # close 1000
    conn.recv(4096)
    conn.close()


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=256, help="message size in MiB")
    parser.add_argument("--reassemble", action="store_true", help="on_binary, not streaming")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
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
