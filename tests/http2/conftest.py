"""Fixtures of the HTTP/2 tests: Hypercorn over TLS (ALPN h2) and Node's http2 server (h2c).

``hypercorn_url``
    ``wss://127.0.0.1:PORT`` of Hypercorn on its trio worker, in-process, serving
    :func:`echo_app` with a trustme certificate; ``trusting`` is the client's context.
``h2_node``
    A factory: ``port = await h2_node("--zero-window")`` starts peers/node/h2_server.js.
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme
from conftest import NODE_PEER
from hypercorn.config import Config
from hypercorn.trio import serve
from recorder import read_line

StartH2Node = Callable[..., Awaitable[int]]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app: WebSocket echo (first offered subprotocol chosen); 403 elsewhere."""
    if scope["type"] == "lifespan":
        while (kind := (await receive())["type"]) != "lifespan.shutdown":
            await send({"type": f"{kind}.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "websocket" or scope["path"] == "/reject":
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "http.response.start", "status": 403, "headers": []})
        await send({"type": "http.response.body", "body": b"forbidden"})
        return
    await receive()  # websocket.connect
    subprotocols = scope.get("subprotocols") or []
    await send(
        {"type": "websocket.accept", "subprotocol": subprotocols[0] if subprotocols else None}
    )
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        reply = {"type": "websocket.send", "bytes": message.get("bytes")}
        if message.get("text") is not None:
            reply = {"type": "websocket.send", "text": message["text"]}
        await send(reply)


@pytest.fixture
def trusting(ca: trustme.CA) -> ssl.SSLContext:
    """A client context trusting the session's trustme CA, offering h2 and http/1.1 by ALPN."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.set_alpn_protocols(["h2", "http/1.1"])  # the pool never sets it on ours
    return context


async def start_hypercorn(
    nursery: trio.Nursery, ca: trustme.CA, tmp_path: Path, alpn: list[str]
) -> tuple[str, trio.Event]:
    """Hypercorn serving :func:`echo_app` over TLS on 127.0.0.1; returns its URL and stop."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    config = Config()
    config.certfile, config.keyfile = str(certfile), str(keyfile)
    config.alpn_protocols = alpn
    port, stop = await _serve(nursery, config)
    return f"wss://127.0.0.1:{port}", stop


async def start_hypercorn_h2c(nursery: trio.Nursery) -> tuple[str, trio.Event]:
    """Hypercorn serving :func:`echo_app` in cleartext (HTTP/1.1 and h2c with prior
    knowledge on one port); returns its ``ws://`` URL and stop."""
    port, stop = await _serve(nursery, Config())
    return f"ws://127.0.0.1:{port}", stop


async def _serve(nursery: trio.Nursery, config: Config) -> tuple[str, trio.Event]:
    config.bind = ["127.0.0.1:0"]
    config.h2_max_concurrent_streams = 128
    config.accesslog = config.errorlog = None
    stop = trio.Event()
    app: Any = echo_app  # hypercorn types its apps by TypedDicts; the app reads plain dicts
    with trio.fail_after(10):
        binds = await nursery.start(
            partial(serve, app, config, shutdown_trigger=stop.wait, mode="asgi")
        )
    return binds[0].rsplit(":", 1)[1], stop


@pytest.fixture
async def hypercorn_url(
    nursery: trio.Nursery, ca: trustme.CA, tmp_path: Path
) -> AsyncIterator[str]:
    """Hypercorn with ALPN h2 and http/1.1, for the test."""
    url, stop = await start_hypercorn(nursery, ca, tmp_path, ["h2", "http/1.1"])
    yield url
    stop.set()


async def start_h2_node(nursery: trio.Nursery, node: str, *flags: str) -> int:
    """Start peers/node/h2_server.js with ``flags`` in ``nursery``; returns its port."""
    command = [node, str(NODE_PEER / "h2_server.js"), *flags]
    process: trio.Process = await nursery.start(
        partial(trio.run_process, command, stdout=subprocess.PIPE, check=False)
    )
    assert process.stdout is not None
    with trio.fail_after(15):
        port = await read_line(process.stdout)
    assert port.isdigit(), f"h2_server.js printed {port!r}"
    return int(port)


@pytest.fixture
async def h2_node(nursery: trio.Nursery, node: str) -> StartH2Node:
    """A factory starting Node's http2 RFC 8441 echo server; returns its port."""
    return partial(start_h2_node, nursery, node)
