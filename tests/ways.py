"""The three ways into the event contract, for tests parametrized over them.

``default``: ``WebSocket(url)``; ``trio-websocket``: ``WebSocket(url, engine="trio-websocket")``;
``adopted``: ``WebSocket.from_trio_websocket(conn)`` over a connection trio-websocket opened.
"""

from __future__ import annotations

from typing import Any

import trio
import trio_websocket

from trio_ws_events import WebSocket

__all__ = ["WAYS", "Way"]

WAYS = ("default", "trio-websocket", "adopted")


class Way:
    """How a test gets its ``WebSocket`` for a URL, per way in."""

    def __init__(self, name: str, nursery: trio.Nursery) -> None:
        self.name = name
        self._nursery = nursery  # where an adopted connection's reader runs

    async def connect(self, url: str, **options: Any) -> WebSocket:
        """A ``WebSocket`` for ``url``, not yet opened (adopted: already connected)."""
        if self.name == "default":
            return WebSocket(url, **options)
        if self.name == "trio-websocket":
            options.setdefault("proxy", None)
            return WebSocket(url, engine="trio-websocket", **options)
        adopted = {k: options.pop(k) for k in list(options) if k in _ADOPTED_OPTIONS}
        conn = await trio_websocket.connect_websocket_url(self._nursery, url, **options)
        return WebSocket.from_trio_websocket(conn, **adopted)


_ADOPTED_OPTIONS = {
    "close_timeout",
    "ping_interval",
    "ping_timeout",
    "max_buffered_amount",
    "logger",
}
