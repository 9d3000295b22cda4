"""What the ``trio_ws_events`` logger says: lifecycle, no payloads above DEBUG, no secrets."""

from __future__ import annotations

import base64
import logging

import pytest
import trio
from conftest import StartRawServer
from peers.raw_server import RawConnection
from recorder import Recorder, run_to_end

from trio_ws_events import ConnectionLost, WebSocket, WebSocketError
from trio_ws_events.pytest_plugin import ScriptedServerFactory

TIMEOUT = 10.0
PASSWORD = "hunter2-s3cret"
#: Payloads distinctive enough to be found in any log line that leaked them.
PAYLOADS = ("PAYLOAD-TEXT-7f3a", b"PAYLOAD-BINARY-9c1e", "PAYLOAD-FROM-SERVER-4d2b")
CLOSE_REASON = "REASON-5e8f"


@pytest.fixture(autouse=True)
def _debug_records(caplog: pytest.LogCaptureFixture) -> None:
    """Every test here captures the package's records from DEBUG up (a test may narrow it)."""
    caplog.set_level(logging.DEBUG, logger="trio_ws_events")


def _secrets() -> list[str]:
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    return [PASSWORD, basic]


def _texts(records: list[logging.LogRecord]) -> list[str]:
    return [record.getMessage() for record in records]


def _assert_discreet(records: list[logging.LogRecord]) -> None:
    """No record shows a password (plain or in Basic auth); none above DEBUG shows a payload."""
    texts = _texts(records)
    for secret in _secrets():
        assert not any(secret in text for text in texts), texts
    above_debug = _texts([r for r in records if r.levelno > logging.DEBUG])
    for payload in PAYLOADS:
        shown = payload if isinstance(payload, str) else payload.decode()
        assert not any(shown in text for text in above_debug), above_debug


async def test_connect_close_cycle_logs(
    ws_server: ScriptedServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Connect and open at DEBUG/INFO, the close code at INFO; payloads and passwords never."""
    server = ws_server()
    url = server.url.replace("ws://", f"ws://alice:{PASSWORD}@")
    ws = WebSocket(url, headers=[("X-Api-Key", PASSWORD)])

    @ws.on_open
    def send_both(ws: WebSocket) -> None:
        ws.send(PAYLOADS[0])
        ws.send(PAYLOADS[1])

    ws.on_message += lambda ws, message: ws.close(4000, CLOSE_REASON)
    ws.on_error += lambda ws, error: None
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            conn = await server.accept()
            assert conn.request.header("authorization") == f"Basic {_secrets()[1]}"
            assert await conn.receive() == PAYLOADS[0]
            assert await conn.receive() == PAYLOADS[1]
            await conn.send(PAYLOADS[2])
            assert await conn.wait_closed() == (4000, CLOSE_REASON)
    shown = ws.url
    assert PASSWORD not in shown
    assert all(record.name == "trio_ws_events" for record in caplog.records)
    _assert_discreet(caplog.records)
    debug = _texts([r for r in caplog.records if r.levelno == logging.DEBUG])
    assert f"connecting to {shown}" in debug
    assert f"sending close 4000 to {shown}" in debug
    info = _texts([r for r in caplog.records if r.levelno == logging.INFO])
    assert info == [f"connected to {shown}", f"closed {shown}: 4000 (close started by the client)"]


async def test_unhandled_error_is_a_warning(
    ws_server: ScriptedServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """An ending by error with no on_error handler is logged at WARNING, else at INFO."""
    server = ws_server()
    errors: list[WebSocketError] = []
    handled = WebSocket(server.url)
    handled.on_error += lambda ws, error: errors.append(error)
    unhandled = WebSocket(server.url.replace("ws://", f"ws://alice:{PASSWORD}@"))
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            for ws in (handled, unhandled):
                ws.open(nursery)
                conn = await server.accept()
                await conn.send(PAYLOADS[2])
                await conn.drop()
    ended = [
        r
        for r in caplog.records
        if r.getMessage().startswith("connection to ") and r.levelno > logging.DEBUG
    ]
    assert [r.levelno for r in ended] == [logging.INFO, logging.WARNING]
    assert "ended: ConnectionLost (close code 1006)" in ended[1].getMessage()
    for record in caplog.records:
        assert PASSWORD not in record.getMessage()
        if record.levelno > logging.DEBUG:
            assert PAYLOADS[2] not in record.getMessage()


async def test_failed_proxy_connection_hides_proxy_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A proxy URL's password appears in no log line, nor in the error."""
    errors: list[WebSocketError] = []
    ws = WebSocket("ws://127.0.0.1:9/", proxy=f"http://bob:{PASSWORD}@127.0.0.1:1")
    ws.on_error += lambda ws, error: errors.append(error)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
    assert len(errors) == 1
    assert PASSWORD not in str(errors[0])
    assert caplog.records
    for text in _texts(caplog.records):
        assert PASSWORD not in text, text


async def test_query_string_stays_out_of_logs(
    ws_server: ScriptedServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A token in the query string is not logged; the path is, with '?...' in its place."""
    server = ws_server()
    ws = WebSocket(server.url + "feed?token=SECRET-TOKEN-77")
    ws.on_open += lambda ws: ws.close()
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            conn = await server.accept()
            await conn.wait_closed()
    texts = _texts(caplog.records)
    assert not any("SECRET-TOKEN-77" in text for text in texts), texts
    assert any("/feed?..." in text for text in texts), texts


async def test_handler_exception_text_stays_at_debug(
    ws_server: ScriptedServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler's exception may quote a payload: above DEBUG only its class is logged."""
    server = ws_server()
    ws = WebSocket(server.url)

    def bad(ws: WebSocket, message: str) -> None:
        raise ValueError(f"cannot parse {message}")

    ws.on_message += bad
    with pytest.RaisesGroup(ValueError), trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            conn = await server.accept()
            await conn.send(PAYLOADS[2])
            await conn.wait_closed()
    above_debug = _texts([r for r in caplog.records if r.levelno > logging.DEBUG])
    assert any("HandlerError (close code 1011)" in text for text in above_debug), above_debug
    assert not any(PAYLOADS[2] in text for text in above_debug), above_debug


async def test_query_string_is_shown_where_the_docs_say(
    raw_server: StartRawServer, caplog: pytest.LogCaptureFixture
) -> None:
    """ws.url and errors keep the query; repr and every log record but the error's do not."""
    token = "SECRET-TOKEN-31"

    async def script(conn: RawConnection) -> None:
        if conn.path.startswith("/start"):
            await conn.reject(302, headers=[("Location", f"/feed?token={token}-2")])
        else:
            await conn.reject(403, b"no")

    server = await raw_server(script)
    ws = WebSocket(f"{server.url}start?token={token}")
    assert f"?token={token}" in ws.url
    assert token not in repr(ws)
    assert "/start?..." in repr(ws)
    rec = Recorder(ws)
    await run_to_end(ws)
    error = rec.error
    assert token in str(error)
    assert token in (error.url or "")
    for record in caplog.records:
        quotes_error = record.levelno == logging.DEBUG and str(error) in record.getMessage()
        assert (token in record.getMessage()) == quotes_error, record.getMessage()
    assert any("/feed?..." in text for text in _texts(caplog.records))
    assert token not in repr(ws)


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO, logging.WARNING])
async def test_query_string_at_each_level(
    raw_server: StartRawServer, caplog: pytest.LogCaptureFixture, level: int
) -> None:
    """At INFO and WARNING no record shows the query; at DEBUG only the error's message."""
    caplog.set_level(level, logger="trio_ws_events")

    async def script(conn: RawConnection) -> None:
        await conn.reject(401, b"")

    server = await raw_server(script)
    ws = WebSocket(server.url + "q?key=QUERY-SECRET-8")  # no on_error: a WARNING
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
    leaked = [text for text in _texts(caplog.records) if "QUERY-SECRET-8" in text]
    assert caplog.records
    assert len(leaked) == (1 if level == logging.DEBUG else 0), leaked


async def test_logger_option_receives_every_record_under_the_same_rules(
    ws_server: ScriptedServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """logger=: records go to that logger only, payloads and secrets stay out as before."""
    mine = logging.getLogger("myapp.ws")
    caplog.set_level(logging.DEBUG, logger="myapp.ws")
    server = ws_server()
    url = server.url.replace("ws://", f"ws://alice:{PASSWORD}@")
    ws = WebSocket(url, headers=[("X-Api-Key", PASSWORD)], logger=mine)

    @ws.on_open
    def send_both(ws: WebSocket) -> None:
        ws.send(PAYLOADS[0])
        ws.send(PAYLOADS[1])

    ws.on_message += lambda ws, message: ws.close(4000, CLOSE_REASON)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            conn = await server.accept()
            assert await conn.receive() == PAYLOADS[0]
            assert await conn.receive() == PAYLOADS[1]
            await conn.send(PAYLOADS[2])
            assert await conn.wait_closed() == (4000, CLOSE_REASON)
    assert {record.name for record in caplog.records} == {"myapp.ws"}
    texts = _texts(caplog.records)
    assert f"connecting to {ws.url}" in texts  # the handshake's records too
    assert f"closed {ws.url}: 4000 (close started by the client)" in texts
    _assert_discreet(caplog.records)


async def test_logger_adapter_adds_its_context_to_each_record(
    ws_server: ScriptedServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A LoggerAdapter's extra fields are on every record of its connection, not others'."""
    server = ws_server()
    tagged = WebSocket(
        server.url,
        logger=logging.LoggerAdapter(logging.getLogger("trio_ws_events"), {"conn_id": "c-17"}),
    )
    plain = WebSocket(server.url)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            for ws in (tagged, plain):
                ws.on_open += lambda ws: ws.close()
                ws.open(nursery)
                conn = await server.accept()
                await conn.wait_closed()
                await ws.wait_closed()
    tags = [getattr(record, "conn_id", None) for record in caplog.records]
    connected = [r for r in caplog.records if r.getMessage().startswith("connected to")]
    assert [getattr(r, "conn_id", None) for r in connected] == ["c-17", None]
    assert tags.count("c-17") >= 3  # connecting, connected, closed at least


@pytest.mark.parametrize("bad", ["trio_ws_events", print, 3])
def test_logger_option_refuses_other_types(bad: object) -> None:
    """logger= takes a Logger, a LoggerAdapter or None; anything else is a TypeError."""
    expected = r"logger must be a logging\.Logger, a logging\.LoggerAdapter or None, got "
    with pytest.raises(TypeError, match=expected):
        WebSocket("ws://127.0.0.1:1/", logger=bad)  # type: ignore[arg-type]


async def test_error_heard_by_async_for_is_not_a_warning(
    raw_server: StartRawServer, caplog: pytest.LogCaptureFixture
) -> None:
    """With no on_error handler but a live `async for`, which raises it, the end is INFO."""
    caplog.set_level(logging.INFO, logger="trio_ws_events")

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.drop()

    server = await raw_server(script)
    ws = WebSocket(server.url)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            with pytest.raises(ConnectionLost):
                async for _ in ws:
                    pass
    ended = [r for r in caplog.records if "ended: ConnectionLost" in r.getMessage()]
    assert [r.levelno for r in ended] == [logging.INFO]
