"""The private parts of trio-websocket that the trio-websocket engine relies on, each named.

When a new trio-websocket changes one of them, the test of that part fails here, loudly,
before any behaviour test fails in a puzzling way. The engine was written against 0.12.2.
"""

from __future__ import annotations

import inspect

import pytest
import trio
import trio_websocket
import wsproto

from trio_ws_events._trio.tw_tap import TRIO_WEBSOCKET_INTERNALS

pytestmark = pytest.mark.filterwarnings("error")


def test_internals_list_is_what_this_file_checks() -> None:
    """Every internal the engine names is checked by a test below, and nothing else."""
    assert set(TRIO_WEBSOCKET_INTERNALS) == {
        "WebSocketConnection._wsproto",
        "WebSocketConnection._send",
        "WebSocketConnection._stream",
        "WebSocketConnection._handle_close_connection_event",
        "WebSocketConnection._reader_task",
        "WebSocketRequest._connection",
    }


def test_internals_version_is_the_one_checked() -> None:
    """The installed trio-websocket is the version these checks were written against."""
    assert trio_websocket.__version__ == "0.12.2", (
        "trio-websocket changed: re-check every name in TRIO_WEBSOCKET_INTERNALS "
        "(trio_ws_events/_trio/tw_tap.py) and this file, then update the pin"
    )


async def test_internals_of_a_live_connection(nursery: trio.Nursery) -> None:
    """_wsproto is a wsproto connection read afresh on each use; _stream is the stream;
    _send is an async method taking one wsproto event."""
    conn: list[trio_websocket.WebSocketConnection] = []

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        # WebSocketRequest._connection: the connection accept() will return.
        assert isinstance(request._connection, trio_websocket.WebSocketConnection)
        accepted = await request.accept()
        assert accepted is request._connection
        conn.append(accepted)
        await trio.sleep_forever()

    server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
    client = await trio_websocket.connect_websocket_url(nursery, f"ws://127.0.0.1:{server.port}/")
    assert isinstance(client._wsproto, wsproto.WSConnection)
    assert isinstance(client._stream, trio.abc.Stream)
    assert inspect.iscoroutinefunction(trio_websocket.WebSocketConnection._send)
    assert list(inspect.signature(trio_websocket.WebSocketConnection._send).parameters) == [
        "self",
        "event",
    ]
    reader = inspect.getsource(trio_websocket.WebSocketConnection._reader_task)
    # The tap works because the reader looks _wsproto up on every use, not once.
    assert "self._wsproto.events()" in reader
    assert "self._wsproto.receive_data(data)" in reader
    await client.aclose()


def test_internals_close_event_is_answered_in_remote_closing() -> None:
    """A close seen in REMOTE_CLOSING is answered with event.response() through _send (the
    tap shows a violation in that state to get its close frame written)."""
    source = inspect.getsource(trio_websocket.WebSocketConnection._handle_close_connection_event)
    assert "ConnectionState.REMOTE_CLOSING" in source
    assert "await self._send(event.response())" in source


def test_internals_reader_is_started_as_a_bound_method() -> None:
    """connect_websocket starts connection._reader_task with start_soon: the engine's nursery
    stand-in installs the tap on its __self__ before the reader runs."""
    source = inspect.getsource(trio_websocket._impl.connect_websocket)
    assert "nursery.start_soon(connection._reader_task)" in source
