"""A fresh bearer token for every handshake request, from a hook instead of ``headers=``."""

import itertools

import trio

from trio_ws_events import HandshakeRequest, WebSocket

# --8<-- [start:hook]
_serial = itertools.count(1)


async def fetch_token(url: str) -> str:
    """Stands for a call to your auth service; the hook may await anything."""
    await trio.lowlevel.checkpoint()
    return f"token-{next(_serial)}"


async def add_token(request: HandshakeRequest) -> None:
    # Called before the first request and before each redirect is followed, with the URL
    # the request goes to: choose the token for that host, or none for a host you distrust.
    token = await fetch_token(request.url)
    request.set_header("Authorization", f"Bearer {token}")


# --8<-- [end:hook]


async def main() -> None:
    async with WebSocket("ws://127.0.0.1:8765/", handshake_hook=add_token) as ws:
        replied = trio.Event()
        ws.on_message += lambda ws, message: replied.set()
        ws.send("hello")
        await replied.wait()
    print("opened with a fresh token; tokens fetched:", next(_serial) - 1)


trio.run(main)
