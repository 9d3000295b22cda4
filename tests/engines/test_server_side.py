"""Our events inside a ``trio_websocket.serve_websocket`` handler: the server side.

The handler adopts each connection (``WebSocket.from_trio_websocket``) and is driven by our
own client, by ``websockets``' client and by Node's ws client (both in subprocesses), and by a
raw TCP client for the protocol violation.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
import trio
import trio_websocket
from peers.raw_frames import Opcode, build_frame, parse_frame
from recorder import Recorder, run_to_end

from trio_ws_events import HandlerError, ProtocolError, State, WebSocket

PEERS = Path(__file__).parent.parent / "peers"


class Served:
    """The server: each connection's ``WebSocket`` and its recorder, in arrival order."""

    def __init__(self, setup: Callable[[WebSocket], None], *, after_accept: bool = False) -> None:
        self.setup = setup
        self.after_accept = after_accept  # request.accept(), then from_trio_websocket
        self.sockets: list[WebSocket] = []
        self.recorders: list[Recorder] = []
        self.raised: list[BaseException] = []
        self.ended = trio.Event()
        self.url = ""

    async def handler(self, request: trio_websocket.WebSocketRequest) -> None:
        if self.after_accept:
            conn = await request.accept()
            ws = WebSocket.from_trio_websocket(conn, ping_interval=None)
        else:
            ws = await WebSocket.accept_trio_websocket(request, ping_interval=None)
        self.sockets.append(ws)
        self.recorders.append(Recorder(ws))
        self.setup(ws)
        try:
            async with trio.open_nursery() as nursery:
                ws.open(nursery)
        except BaseException as exc:  # the handler's own exception, kept for the test
            self.raised.append(exc)
            if isinstance(exc, trio.Cancelled):
                raise
        finally:
            self.ended.set()


async def serve(
    nursery: trio.Nursery, setup: Callable[[WebSocket], None], *, after_accept: bool = False
) -> Served:
    served = Served(setup, after_accept=after_accept)
    server = await nursery.start(
        partial(trio_websocket.serve_websocket, served.handler, "127.0.0.1", 0, ssl_context=None)
    )
    served.url = f"ws://127.0.0.1:{server.port}/"
    return served


def echo(ws: WebSocket) -> None:
    ws.on_message += lambda ws, m: ws.send(m)
    ws.on_binary += lambda ws, m: ws.send(m)


async def run_peer(command: list[str]) -> list[str]:
    """Run a client subprocess to its end and return the lines it printed."""
    with trio.fail_after(20):
        result = await trio.run_process(command, capture_stdout=True, check=False)
    return result.stdout.decode().splitlines()


# ---------------------------------------------------------------------------- echo and close


@pytest.mark.parametrize("after_accept", [False, True])
async def test_server_echo_and_client_close_with_our_client(
    nursery: trio.Nursery, after_accept: bool
) -> None:
    """Our client and a server handler both on our events: echo, then the client's close
    (accept_trio_websocket, or request.accept() then from_trio_websocket)."""
    served = await serve(nursery, echo, after_accept=after_accept)
    ws = WebSocket(served.url, compression=None)
    got: list[str] = []
    ws.on_open += lambda ws: ws.send("hello")

    def on_message(ws: WebSocket, text: str) -> None:
        got.append(text)
        ws.close(4001, "client bye")

    ws.on_message += on_message
    await run_to_end(ws)
    with trio.fail_after(5):
        await served.ended.wait()
    assert got == ["hello"]
    assert served.recorders[0].events == [
        ("open",),
        ("message", "hello"),
        ("closed", 4001, "client bye"),
    ]
    assert ws.close_code == 4001


async def test_server_close_code_and_reason_reach_our_client(nursery: trio.Nursery) -> None:
    """The handler's close(code, reason) reaches the client as sent, and ends both sides."""
    served = await serve(nursery, lambda ws: setattr(ws, "on_open", _close_on_open(ws)))
    ws = WebSocket(served.url, compression=None)
    rec = Recorder(ws)
    await run_to_end(ws)
    with trio.fail_after(5):
        await served.ended.wait()
    assert rec.events == [("open",), ("closed", 4002, "server bye")]
    assert served.recorders[0].events[-1] == ("closed", 4002, "server bye")
    assert served.sockets[0].state is State.CLOSED


def _close_on_open(ws: WebSocket) -> object:
    ws.on_open += lambda ws: ws.close(4002, "server bye")
    return ws.on_open


@pytest.mark.parametrize("closer", ["client", "server"])
@pytest.mark.parametrize("peer", ["websockets", "node"])
async def test_server_with_peer_clients(
    nursery: trio.Nursery, request: pytest.FixtureRequest, peer: str, closer: str
) -> None:
    """websockets' and Node's ws clients: echo, and the close code and reason both ways."""
    if peer == "node":
        client = [request.getfixturevalue("node"), str(PEERS / "node" / "client.js")]
    else:
        client = [sys.executable, str(PEERS / "websockets_client.py")]

    def setup(ws: WebSocket) -> None:
        ws.on_message += lambda ws, m: ws.send(m)
        if closer == "server":
            ws.on_message += lambda ws, m: ws.close(4003, "from server")

    served = await serve(nursery, setup)
    close = ["4004", "from client"] if closer == "client" else []
    lines = await run_peer([*client, served.url, "hi", *close])
    with trio.fail_after(5):
        await served.ended.wait()
    expected = (4004, "from client") if closer == "client" else (4003, "from server")
    assert lines == ["hi", f"closed {expected[0]} {expected[1]}"]
    assert served.recorders[0].events[-1] == ("closed", *expected)


# ---------------------------------------------------------------------------- failures


async def _raw_client(url: str, frames: bytes) -> bytes:
    """Upgrade by hand, send ``frames`` (unmasked: a violation by a client), read to EOF."""
    port = int(url.rsplit(":", 1)[1].strip("/"))
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        data = b""
        while b"\r\n\r\n" not in data:
            data += await stream.receive_some(4096)
        rest = data.split(b"\r\n\r\n", 1)[1]
        await stream.send_all(frames)
        while chunk := await stream.receive_some(4096):
            rest += chunk
    return rest


async def test_server_client_violation_sends_1002_and_fires_on_error(
    nursery: trio.Nursery,
) -> None:
    """An unmasked frame from the client: 1002 goes out, on_error has a ProtocolError."""
    served = await serve(nursery, echo)
    with trio.fail_after(10):
        wire = await _raw_client(served.url, build_frame(Opcode.TEXT, b"unmasked"))
        await served.ended.wait()
    parsed = parse_frame(wire)
    assert parsed is not None
    frame = parsed[0]
    assert frame.opcode == Opcode.CLOSE
    assert int.from_bytes(frame.payload[:2], "big") == 1002
    rec = served.recorders[0]
    assert rec.names == ["open", "error"]
    assert type(rec.error) is ProtocolError
    assert served.sockets[0].close_code == 1002


async def test_server_handler_exception_closes_1011_and_propagates(
    nursery: trio.Nursery,
) -> None:
    """A raising handler: the client gets 1011, on_error fires, the exception leaves open()'s
    nursery in the server handler."""

    def setup(ws: WebSocket) -> None:
        def bad(ws: WebSocket, message: str) -> None:
            raise KeyError("handler bug")

        ws.on_message += bad

    served = await serve(nursery, setup)
    ws = WebSocket(served.url, compression=None)
    rec = Recorder(ws)
    ws.on_open += lambda ws: ws.send("boom")
    await run_to_end(ws)
    with trio.fail_after(5):
        await served.ended.wait()
    assert rec.events[-1] == ("closed", 1011, "")
    assert isinstance(served.recorders[0].error, HandlerError)
    assert pytest.RaisesGroup(KeyError).matches(served.raised[0])


async def test_server_nursery_cancelled_sends_1001(nursery: trio.Nursery) -> None:
    """Cancelling the handler's nursery closes with 1001 and leaves the instance CLOSED."""
    scopes: list[trio.CancelScope] = []

    def setup(ws: WebSocket) -> None:
        ws.on_message += lambda ws, m: scopes[0].cancel()

    served = Served(setup)

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        with trio.CancelScope() as scope:
            scopes.append(scope)
            await served.handler(request)

    server = await nursery.start(
        partial(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, ssl_context=None)
    )
    ws = WebSocket(f"ws://127.0.0.1:{server.port}/", compression=None)
    rec = Recorder(ws)
    ws.on_open += lambda ws: ws.send("cancel me")
    await run_to_end(ws)
    with trio.fail_after(5):
        await served.ended.wait()
    assert rec.events[-1] == ("closed", 1001, "")
    assert served.sockets[0].state is State.CLOSED
    assert served.recorders[0].events[-1] == ("closed", 1001, "")
