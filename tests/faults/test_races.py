"""Races between the caller and the connection task, made deterministic.

A real race is rare (the property test in ``tests/api/test_properties.py`` hit this one about once
in a hundred runs); here the interleaving is forced by wrapping the function the connection
task awaits, so the test fails or passes every time.
"""

from __future__ import annotations

import pytest

from faults.support import run_case
from trio_ws_events import ConnectError, WebSocket
from trio_ws_events._sansio.url import WebSocketURL
from trio_ws_events._trio import connection as _connection
from trio_ws_events._trio.connect import ConnectOptions, Opened, open_connection


async def test_close_after_the_handshakes_last_read_still_abandons(
    echo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """close() while CONNECTING, landing after the handshake's last read (no checkpoint left
    to deliver the cancellation): the attempt is still abandoned, on_open never fires, and
    the connection does not stay open forever."""
    ws = WebSocket(echo_url)
    assert _connection.open_connection is open_connection  # type: ignore[attr-defined]

    async def handshake_then_close(url: WebSocketURL, options: ConnectOptions) -> Opened:
        opened = await open_connection(url, options)
        ws.close()  # as if the caller ran between the last read and the state change
        return opened

    monkeypatch.setattr(_connection, "open_connection", handshake_then_close)
    rec = await run_case(ws, limit=5)
    assert rec.names == ["error"]
    assert type(rec.error) is ConnectError
    assert "abandoned" in str(rec.error)
    assert ws.close_code == 1006
