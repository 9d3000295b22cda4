"""The three ways into the event contract, for the tests parametrized over them (``way``).

``default``: ``WebSocket(url)``; ``trio-websocket``: ``WebSocket(url, engine="trio-websocket")``;
``adopted``: ``WebSocket.from_trio_websocket(conn)`` over a connection trio-websocket opened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio_websocket

from trio_ws_events import WebSocket

__all__ = ["WAYS", "Way"]

WAYS = ("default", "trio-websocket", "adopted")

#: The options of WebSocket(...) that from_trio_websocket takes too.
_ADOPTED_OPTIONS = frozenset(
    {"close_timeout", "ping_interval", "ping_timeout", "max_buffered_amount", "logger"}
)


class Way:
    """How a test gets its ``WebSocket`` for a URL, per way in."""

    def __init__(
        self,
        name: str,
        nursery: trio.Nursery,
        default: Callable[..., WebSocket] = WebSocket,
    ) -> None:
        self.name = name
        self._nursery = nursery  # where an adopted connection's reader runs
        self._default = default  # builds the default way's WebSocket(url, **options)

    async def connect(self, url: str, **options: Any) -> WebSocket:
        """A ``WebSocket`` for ``url``, not yet opened (adopted: trio-websocket connected).

        Raises:
            TypeError: an option the adopted form has no counterpart for (skip the test).
        """
        if self.name == "default":
            return self._default(url, **options)
        if self.name == "trio-websocket":
            options.setdefault("proxy", None)
            return WebSocket(url, engine="trio-websocket", **options)
        adopted = {k: options.pop(k) for k in list(options) if k in _ADOPTED_OPTIONS}
        if options.pop("compression", None) is not None:
            raise TypeError("an adopted trio-websocket connection has no compression")
        conn = await trio_websocket.connect_websocket_url(self._nursery, url, **options)
        return WebSocket.from_trio_websocket(conn, **adopted)

    def needs_opening(self) -> None:
        """Skip where the test is about connecting: an adopted connection is open already."""
        if self.name == "adopted":
            pytest.skip("an adopted connection is open already: nothing to connect or abandon")
