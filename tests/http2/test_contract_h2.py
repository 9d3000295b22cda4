"""The core contract over HTTP/2: the echo tests of tests/api/test_websocket.py, run again
with ``http2=pool`` against Hypercorn (wss://, ALPN h2) and Node's http2 server (h2c).

The bodies are not copied: each test function is imported from the contract module, and a
fixture makes its ``WebSocket`` open through this module's pool (``over_http2``), whose
teardown asserts that every WebSocket that opened rode an HTTP/2 stream.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme
from api import test_websocket as contract
from api.test_websocket import (
    test_async_handlers_run_in_order_and_never_overlap,
    test_cancel_while_async_handler_runs,
    test_close_accepts_sendable_codes,
    test_close_reason_length_is_checked_in_utf8_bytes,
    test_close_rejects_codes_an_endpoint_may_not_send,
    test_close_twice_is_harmless,
    test_raising_async_on_open_in_async_with_propagates_bare,
    test_raising_handler_in_async_with_body,
    test_round_trip_sizes,
    test_second_open_raises_in_every_state,
    test_send_outside_open_raises,
    test_send_wrong_type_is_type_error,
    test_stats_count_messages_bytes_and_times,
    test_walkthrough_text_binary_close_with_code_and_reason,
)
from ways import Way

from http2.conftest import start_h2_node, start_hypercorn
from http2.wire import rode_http2
from trio_ws_events import H2Pool, WebSocket, open_h2_pool

__all__ = [
    "test_async_handlers_run_in_order_and_never_overlap",
    "test_cancel_while_async_handler_runs",
    "test_close_accepts_sendable_codes",
    "test_close_reason_length_is_checked_in_utf8_bytes",
    "test_close_rejects_codes_an_endpoint_may_not_send",
    "test_close_twice_is_harmless",
    "test_raising_async_on_open_in_async_with_propagates_bare",
    "test_raising_handler_in_async_with_body",
    "test_round_trip_sizes",
    "test_second_open_raises_in_every_state",
    "test_send_outside_open_raises",
    "test_send_wrong_type_is_type_error",
    "test_stats_count_messages_bytes_and_times",
    "test_walkthrough_text_binary_close_with_code_and_reason",
]


@pytest.fixture
async def h2_pool(trusting: ssl.SSLContext) -> AsyncIterator[H2Pool]:
    """One pool for the test, owned by this fixture's nursery."""
    async with open_h2_pool(ssl_context=trusting, h2c=True) as pool:
        yield pool


@pytest.fixture(params=["hypercorn", "node"])
async def echo_url(
    request: pytest.FixtureRequest,
    nursery: trio.Nursery,
    ca: trustme.CA,
    tmp_path: Path,
    over_http2: list[WebSocket],
) -> AsyncIterator[str]:
    """The contract's echo server, replaced by an RFC 8441 one: Hypercorn or Node h2c; every
    contract test takes it, so every one runs ``over_http2``."""
    if request.param == "hypercorn":
        url, stop = await start_hypercorn(nursery, ca, tmp_path, ["h2", "http/1.1"])
        yield f"{url}/echo"
        stop.set()
        return
    node = request.getfixturevalue("node")
    yield f"ws://127.0.0.1:{await start_h2_node(nursery, node)}/echo"


@pytest.fixture
def way(nursery: trio.Nursery) -> Way:
    """The contract's tests take the way in: here only our engine, which can go over HTTP/2,
    built by the contract module's ``WebSocket`` (``OverHttp2`` where ``over_http2`` runs)."""

    def build(url: str, **options: Any) -> WebSocket:
        websocket: type[WebSocket] = vars(contract)["WebSocket"]  # read when called
        return websocket(url, **options)

    return Way("default", nursery, build)


@pytest.fixture
async def over_http2(
    monkeypatch: pytest.MonkeyPatch, h2_pool: H2Pool, ca: trustme.CA
) -> AsyncIterator[list[WebSocket]]:
    """Every ``WebSocket(...)`` of the contract module opens through ``h2_pool``; at the end,
    each one that opened must have run over an HTTP/2 stream."""
    made: list[WebSocket] = []
    context = ssl.create_default_context()  # for a fallback, which must not happen
    ca.configure_trust(context)

    class OverHttp2(WebSocket):
        def __init__(self, url: str, **options: Any) -> None:
            options.setdefault("http2", h2_pool)
            options.setdefault("ssl_context", context)
            super().__init__(url, **options)
            made.append(self)

    monkeypatch.setattr(contract, "WebSocket", OverHttp2)
    yield made
    opened = [ws for ws in made if ws.stats.connect_time is not None]
    assert all(rode_http2(ws) for ws in opened), "HTTP/1.1 was used"
