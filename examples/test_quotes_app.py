"""Tests of ``quotes_app.py``'s handlers with the fixtures of the trio-ws-events plugin.

Run with ``pytest`` and pytest-trio (``trio_mode = true`` in the pytest configuration).
"""

from __future__ import annotations

import pytest
import trio
from quotes_app import QuotesClient

from trio_ws_events.testing import ClientClosed, ScriptedServerFactory


# --8<-- [start:subscribe]
async def test_subscribes_and_keeps_prices(ws_server: ScriptedServerFactory) -> None:
    server = ws_server()  # a scripted server on a free 127.0.0.1 port
    app = QuotesClient(server.url + "quotes", "ACME")
    async with trio.open_nursery() as nursery:
        app.ws.open(nursery)
        conn = await server.accept(subprotocol="quotes.v1")  # the handshake completes
        assert conn.request.path == "/quotes"
        assert await conn.receive() == "subscribe ACME"  # what the client sent
        await conn.send("price ACME 12.5")
        await conn.send("price OTHER 99")
        await conn.send("price ACME 13.0")
        await conn.close(1000)  # returns once the client answered the close
    assert app.prices == [12.5, 13.0]
    assert app.ended == "closed 1000"


# --8<-- [end:subscribe]


# --8<-- [start:more]
async def test_answers_pings(ws_server: ScriptedServerFactory) -> None:
    server = ws_server()
    app = QuotesClient(server.url, "ACME")
    async with trio.open_nursery() as nursery:
        app.ws.open(nursery)
        conn = await server.accept()
        await conn.receive()  # the subscription
        await conn.send("ping?")
        assert await conn.receive() == "pong!"
        app.ws.close()
        with pytest.raises(ClientClosed) as closed:
            await conn.receive()
    assert closed.value.code == 1000


async def test_unknown_symbol(ws_server: ScriptedServerFactory) -> None:
    server = ws_server()
    app = QuotesClient(server.url, "NOPE")
    async with trio.open_nursery() as nursery:
        app.ws.open(nursery)
        conn = await server.accept()
        await conn.close(4004, "unknown symbol")
    assert app.ended == "unknown symbol"


async def test_connection_dropped(ws_server: ScriptedServerFactory) -> None:
    server = ws_server()
    app = QuotesClient(server.url, "ACME")
    async with trio.open_nursery() as nursery:
        app.ws.open(nursery)
        conn = await server.accept()
        await conn.drop()  # no close frame: the client sees the connection lost
    assert app.ended == "error ConnectionLost"


async def test_against_an_echo_server(ws_echo_server: str) -> None:
    # The echo server sends "subscribe ACME" back: a malformed quote, so the handler raises.
    app = QuotesClient(ws_echo_server, "ACME")
    with pytest.RaisesGroup(ValueError):
        async with trio.open_nursery() as nursery:
            app.ws.open(nursery)
    assert app.ended == "error HandlerError"


# --8<-- [end:more]
