"""The trio-websocket engine and the adopted form, measured with ``_ours``'s workloads.

Registered in ``_registry.CLIENTS`` as ``ours-tw`` and ``ours-adopted``.

Both run the event-driven workloads of ``_ours`` unchanged: each adapter only changes how that
module builds its ``WebSocket`` (``_ours._new``), in the worker process that measures it (a
worker imports the adapter of its own client only, so nothing else sees the change).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from . import _ours
from ._ours import OURS_OPTIONS, Ours

if TYPE_CHECKING:
    from trio_ws_events import WebSocket

__all__ = ["OursAdopted", "OursTrioWebsocketEngine"]

_Handler = Callable[..., None] | None


def _with_handlers(ws: WebSocket, handlers: tuple[_Handler, ...]) -> WebSocket:
    """``ws`` with ``_ours._new``'s handlers: on_open, on_closed, on_error, then messages."""
    on_open, on_closed, on_error, on_message, on_binary = handlers
    ws.on_open += on_open  # type: ignore[arg-type]
    ws.on_closed += on_closed  # type: ignore[arg-type]
    ws.on_error += on_error  # type: ignore[arg-type]
    if on_message is not None:
        ws.on_message += on_message
    if on_binary is not None:
        ws.on_binary += on_binary
    return ws


def _new_tw_engine(url: str, *handlers: _Handler) -> WebSocket:
    from trio_ws_events import WebSocket

    ws = WebSocket(url, **{**OURS_OPTIONS, "engine": "trio-websocket"})
    return _with_handlers(ws, (*handlers, None, None)[:5])


def _new_adopted(url: str, *handlers: _Handler) -> WebSocket:
    return _with_handlers(_adopting_class()(url), (*handlers, None, None)[:5])


def _adopting_class() -> Any:
    """A ``WebSocket`` whose ``open`` first connects with trio-websocket, then adopts."""
    import trio_websocket

    from trio_ws_events import WebSocket
    from trio_ws_events._trio.tw_adopt import adopted_engine, adopted_options

    class Adopting(WebSocket):
        def open(self, nursery: trio.Nursery) -> None:
            nursery.start_soon(self._adopt_then_open, nursery)

        async def _adopt_then_open(self, nursery: trio.Nursery) -> None:
            conn = await trio_websocket.connect_websocket_url(
                nursery, self.url, max_message_size=2**62
            )
            options = adopted_options(
                conn,
                close_timeout=10.0,
                ping_interval=20.0,
                ping_timeout=20.0,
                max_buffered_amount=16 * 2**20,
                logger=None,
            )
            self._setup(options, adopted_engine(self, conn, options))
            WebSocket.open(self, nursery)

    return Adopting


class OursTrioWebsocketEngine(Ours):
    """trio_ws_events.WebSocket(url, engine="trio-websocket"), event-driven."""

    key = "ours-tw"
    dists = ("trio-ws-events", "trio-websocket", "trio")  # type: ignore[assignment]
    settings = (
        "WebSocket(url, engine='trio-websocket', compression=None, max_message_size=None, "
        "proxy=None)"
    )

    def __init__(self) -> None:
        super().__init__()
        _ours._new = _new_tw_engine  # type: ignore[assignment]


class OursAdopted(Ours):
    """WebSocket.from_trio_websocket over trio_websocket.connect_websocket_url, event-driven."""

    key = "ours-adopted"
    dists = ("trio-ws-events", "trio-websocket", "trio")  # type: ignore[assignment]
    settings = "WebSocket.from_trio_websocket(await connect_websocket_url(nursery, url))"

    def __init__(self) -> None:
        super().__init__()
        _ours._new = _new_adopted  # type: ignore[assignment]
