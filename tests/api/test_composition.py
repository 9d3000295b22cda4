"""The public clients compose what runs them: the engine behind a named seam, never a base."""

from __future__ import annotations

from trio_ws_events import ReconnectingWebSocket, WebSocket
from trio_ws_events._trio.connection import Connection
from trio_ws_events._trio.engine import Engine, Owner
from trio_ws_events._trio.reconnect_loop import ReconnectLoop
from trio_ws_events._websocket_readout import WebSocketReadout
from trio_ws_events._websocket_sending import WebSocketSending


def test_websocket_has_its_engine_instead_of_a_base_class() -> None:
    """WebSocket's only bases are its stateless public facets; its engine is a Connection built
    for it, never a base."""
    assert WebSocket.__mro__ == (WebSocket, WebSocketSending, WebSocketReadout, object)
    for facet in (WebSocketSending, WebSocketReadout):
        # No constructor and no state of their own: they read what WebSocket._setup set.
        assert "__init__" not in vars(facet)
        assert not [name for name, value in vars(facet).items() if name.startswith("on_")]
    ws = WebSocket("ws://127.0.0.1:9/")
    engine: Engine = ws._engine
    assert isinstance(engine, Connection)
    owner: Owner = ws
    assert engine._ws is owner
    assert engine.shown_url == ws.url


def test_reconnecting_websocket_has_its_loop_instead_of_a_base_class() -> None:
    """ReconnectingWebSocket inherits nothing but object; its loop dispatches to it."""
    assert ReconnectingWebSocket.__mro__ == (ReconnectingWebSocket, object)
    rws = ReconnectingWebSocket("ws://127.0.0.1:9/")
    assert isinstance(rws._loop, ReconnectLoop)
    assert rws._loop._owner is rws


def test_handler_slots_live_on_the_public_classes() -> None:
    """Every on_* slot is declared by the public class itself, none by what runs it."""
    for cls, runner in ((WebSocket, Connection), (ReconnectingWebSocket, ReconnectLoop)):
        slots = {name for name in vars(cls) if name.startswith("on_")}
        assert {"on_open", "on_message", "on_closed", "on_error"} <= slots
        assert not {name for name in vars(runner) if name.startswith("on_")}


def test_connection_keeps_its_state_in_slots() -> None:
    """The default engine has no per-instance dict (W5 counts 1,000 idle connections)."""
    ws = WebSocket("ws://127.0.0.1:9/")
    assert not hasattr(ws._engine, "__dict__")
