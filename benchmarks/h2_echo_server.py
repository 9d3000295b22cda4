"""An echo server speaking WebSockets over HTTP/1.1 and HTTP/2 (RFC 8441), for W4/W5 over h2.

Hypercorn on its trio worker, serving an ASGI echo app: text comes back as text, binary as
binary, a close with its code. On cleartext it takes HTTP/1.1 upgrades and h2c with prior
knowledge on one port; with ``--certfile``/``--keyfile`` it speaks TLS offering ALPN ``h2``
and ``http/1.1``. The same server answers both protocols, so the two columns compare the
client's transports, not two servers.

Run alone::

    python benchmarks/h2_echo_server.py --port 0 [--certfile C --keyfile K]

It prints ``READY hypercorn <port> <description>`` once it listens, then serves until its
standard input reaches end of file (it never outlives a parent that holds the pipe).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio

#: Streams one HTTP/2 connection may carry (Go and many servers use 250; Hypercorn refuses
#: more than 1,000 at once, whatever this says): W5 1,000 WebSockets take 4 connections.
MAX_STREAMS = 256

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def echo_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """ASGI: WebSocket echo on every path; lifespan acknowledged; HTTP answered 404."""
    if scope["type"] == "lifespan":
        while (kind := (await receive())["type"]) != "lifespan.shutdown":
            await send({"type": f"{kind}.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes")})


async def _stdin_closed() -> None:
    """Return when standard input reaches end of file."""
    await trio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)


async def serve(port: int, certfile: str | None, keyfile: str | None) -> None:
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.backlog = 2048
    config.h2_max_concurrent_streams = MAX_STREAMS
    # Hypercorn's default sends GOAWAY after 1,000 requests on a connection, which ends the
    # WebSockets still open on it (h2 4.x ends every stream on GOAWAY): W4 opens 2,000.
    config.keep_alive_max_requests = 1_000_000
    config.websocket_max_message_size = 64 * 1024 * 1024
    config.accesslog = config.errorlog = None
    if certfile and keyfile:
        config.certfile, config.keyfile = certfile, keyfile
        config.alpn_protocols = ["h2", "http/1.1"]
    app: Any = echo_app
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        binds = await nursery.start(
            partial(hypercorn_serve, app, config, shutdown_trigger=stop.wait, mode="asgi")
        )
        bound = binds[0].rsplit(":", 1)[1]
        version = importlib.metadata.version("hypercorn")
        tls = "TLS, ALPN h2 + http/1.1" if certfile else "cleartext, HTTP/1.1 + h2c"
        print(f"READY hypercorn {bound} hypercorn {version} (trio worker, {tls})", flush=True)
        await _stdin_closed()
        stop.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="HTTP/1.1 + HTTP/2 WebSocket echo server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    args = parser.parse_args(argv)
    trio.run(serve, args.port, args.certfile, args.keyfile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
