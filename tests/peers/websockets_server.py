"""A server built on the ``websockets`` library, run by the tests as a subprocess.

Usage: ``python websockets_server.py MODE [ARGS...]``. It listens on a free port of 127.0.0.1,
prints that port alone on the first line of stdout, and serves until killed. Modes:

``echo``
    Send every message back, text as text and binary as binary. When the client closes,
    websockets answers with the client's own close code and reason. permessage-deflate is
    accepted when the client offers it.
``echo-plain``
    The same without permessage-deflate.
``echo-deflate JSON``
    Echo, with permessage-deflate configured by ``JSON``: the keyword arguments of
    websockets' ``ServerPerMessageDeflateFactory`` (``server_max_window_bits`` and so on).
``digest``
    For each message, answer with the text ``"text|binary LENGTH SHA256"`` (the length in
    bytes, UTF-8 for text, and the hex SHA-256 of those bytes), not the message itself; no
    permessage-deflate.
``digest-deflate``
    The same with permessage-deflate.
``ping PAYLOAD``
    Right after the handshake, ping with ``PAYLOAD`` (UTF-8), wait for the pong, send the
    text ``"pong PAYLOAD"``, then echo.
``close CODE REASON``
    Right after the handshake, start the close handshake with ``CODE`` and ``REASON``.
``close-after-first``
    Echo the first message, then close with 4000 and ``"done"``.
``reject STATUS [BODY]``
    Refuse the upgrade with HTTP ``STATUS`` and ``BODY`` (default ``"rejected"``).

``unix PATH MODE...`` serves ``MODE`` on the unix socket ``PATH`` instead, and prints ``PATH``.
"""

from __future__ import annotations

import asyncio
import hashlib
import http
import json
import sys
from collections.abc import Awaitable, Callable, Sequence

from websockets.asyncio.server import ServerConnection, serve, unix_serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Request, Response

__all__ = ["StartWebSocketsServer", "main"]

#: Large enough for the 1 MiB round trips; websockets' default is exactly 1 MiB.
MAX_SIZE = 64 * 2**20

#: The type of the ``websockets_server`` fixture in ``conftest.py``: mode words in, URL out.
StartWebSocketsServer = Callable[..., Awaitable[str]]

Handler = Callable[[ServerConnection], Awaitable[None]]
ProcessRequest = Callable[[ServerConnection, Request], Response | None]


async def _echo(ws: ServerConnection) -> None:
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        # The client went away without a close handshake: nothing left to echo.
        pass


async def _digest(ws: ServerConnection) -> None:
    try:
        async for message in ws:
            kind = "text" if isinstance(message, str) else "binary"
            data = message.encode() if isinstance(message, str) else message
            await ws.send(f"{kind} {len(data)} {hashlib.sha256(data).hexdigest()}")
    except ConnectionClosed:
        pass


def _ping_first(payload: str) -> Handler:
    async def handler(ws: ServerConnection) -> None:
        try:
            await (await ws.ping(payload.encode()))
            await ws.send(f"pong {payload}")
        except ConnectionClosed:
            return
        await _echo(ws)

    return handler


def _close_with(code: int, reason: str) -> Handler:
    async def handler(ws: ServerConnection) -> None:
        await ws.close(code, reason)

    return handler


async def _close_after_first(ws: ServerConnection) -> None:
    try:
        await ws.send(await ws.recv())
    except ConnectionClosed:
        return
    await ws.close(4000, "done")


def _reject_with(status: int, body: str) -> ProcessRequest:
    def process_request(ws: ServerConnection, request: Request) -> Response:
        return ws.respond(http.HTTPStatus(status), body)

    return process_request


def _parse_mode(args: Sequence[str]) -> tuple[Handler, ProcessRequest | None]:
    """The connection handler and the request hook for the mode named in ``args``."""
    match list(args):
        case ["echo"] | ["echo-plain"] | ["echo-deflate", _]:
            return _echo, None
        case ["digest"] | ["digest-deflate"]:
            return _digest, None
        case ["ping", payload]:
            return _ping_first(payload), None
        case ["close", code, reason]:
            return _close_with(int(code), reason), None
        case ["close-after-first"]:
            return _close_after_first, None
        case ["reject", status, *body]:
            return _echo, _reject_with(int(status), " ".join(body) or "rejected")
    raise SystemExit(f"unknown mode {list(args)!r}; see the module docstring")


def _extensions(args: Sequence[str]) -> dict[str, object]:
    """The compression arguments of ``serve`` for the mode in ``args``."""
    if list(args) in (["echo-plain"], ["digest"]):
        return {"compression": None}
    if list(args[:1]) == ["echo-deflate"]:
        factory = ServerPerMessageDeflateFactory(**json.loads(args[1]))
        return {"compression": None, "extensions": [factory]}
    # permessage-deflate with its defaults is websockets' default.
    return {"compression": "deflate"}


async def _serve_unix(path: str, args: Sequence[str]) -> None:
    handler, process_request = _parse_mode(args)
    async with unix_serve(
        handler,
        path,
        process_request=process_request,
        max_size=MAX_SIZE,
        **_extensions(args),
        ping_interval=None,
    ) as server:
        print(path, flush=True)
        await server.serve_forever()


async def _serve(args: Sequence[str]) -> None:
    if list(args[:1]) == ["unix"]:
        await _serve_unix(args[1], args[2:])
        return
    handler, process_request = _parse_mode(args)
    async with serve(
        handler,
        "127.0.0.1",
        0,
        process_request=process_request,
        max_size=MAX_SIZE,
        **_extensions(args),  # type: ignore[arg-type]
        # No pings from the server: tests must see only the frames they arranged.
        ping_interval=None,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(port, flush=True)
        await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the server in the mode given by ``argv`` (default: the command line)."""
    asyncio.run(_serve(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
