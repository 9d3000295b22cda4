"""The public surface: what `import trio_ws_events` offers, pinned."""

from __future__ import annotations

import trio_ws_events


def test_public_names() -> None:
    """__all__ lists exactly the public API and each name carries the public module."""
    assert set(trio_ws_events.__all__) == {
        "Backoff",
        "CloseTimeout",
        "Compression",
        "ConnectError",
        "ConnectTimeout",
        "ConnectionLost",
        "Decision",
        "Ending",
        "EventHook",
        "Frame",
        "H2Pool",
        "HandlerError",
        "HandshakeRejected",
        "HandshakeRequest",
        "InvalidStateError",
        "KeepaliveTimeout",
        "MessageIterator",
        "MessageTooBig",
        "ProtocolError",
        "ReconnectingWebSocket",
        "RetryPolicy",
        "SendBufferFull",
        "State",
        "Stats",
        "WebSocket",
        "WebSocketError",
        "WebSocketTimeout",
        "__version__",
        "open_h2_pool",
    }
    for name in trio_ws_events.__all__:
        obj = getattr(trio_ws_events, name)
        if isinstance(obj, type):
            assert obj.__module__ == "trio_ws_events", name


def test_error_tree() -> None:
    """Every error is a WebSocketError; the tree matches the documentation."""
    e = trio_ws_events
    for cls in (
        e.InvalidStateError,
        e.ConnectError,
        e.HandshakeRejected,
        e.ConnectTimeout,
        e.WebSocketTimeout,
        e.CloseTimeout,
        e.ProtocolError,
        e.MessageTooBig,
        e.ConnectionLost,
        e.HandlerError,
    ):
        assert issubclass(cls, e.WebSocketError)
    assert issubclass(e.ConnectTimeout, e.ConnectError)
    assert issubclass(e.ConnectTimeout, e.WebSocketTimeout)
    assert issubclass(e.MessageTooBig, e.ProtocolError)
    assert (e.ProtocolError.code, e.MessageTooBig.code, e.HandlerError.code) == (1002, 1009, 1011)
    assert e.InvalidStateError("x").code is None


def test_testing_public_names() -> None:
    """``trio_ws_events.testing`` lists the documented test servers, under the public module."""
    from trio_ws_events import testing

    assert set(testing.__all__) == {
        "ClientClosed",
        "HandshakeRequest",
        "ProtocolViolation",
        "ScriptedConnection",
        "ScriptedServer",
        "ScriptedServerFactory",
        "UpgradeRequest",
        "open_echo_server",
        "open_scripted_server",
        "serve_echo",
    }
    for name in testing.__all__:
        obj = getattr(testing, name)
        if isinstance(obj, type):
            assert obj.__module__ == "trio_ws_events.testing", name
