"""handshake_hook: run before each upgrade request (first and per redirect), may change headers."""

from __future__ import annotations

import pytest
import trio
from conftest import StartRawServer
from peers.raw_server import RawConnection, accepting
from recorder import Recorder, run_to_end

from trio_ws_events import ConnectError, ConnectTimeout, HandshakeRequest, WebSocket


def closing_on_open(url: str, **options: object) -> tuple[WebSocket, Recorder]:
    """A WebSocket that closes as soon as it opens, with a recorder."""
    ws = WebSocket(url, **options)  # type: ignore[arg-type]
    ws.on_open += lambda ws: ws.close()
    return ws, Recorder(ws)


def test_handshake_request_edits_headers_by_name() -> None:
    """get/set/remove_header ignore case; set replaces every copy; repr hides values."""
    request = HandshakeRequest("ws://h/", [("X-A", "1"), ("x-a", "2"), ("Cookie", "c=s3cr")], 0)
    assert request.get_header("x-A") == "1"
    request.set_header("X-A", "3")
    assert request.headers == [("Cookie", "c=s3cr"), ("X-A", "3")]
    request.remove_header("COOKIE")
    request.remove_header("absent")
    assert request.headers == [("X-A", "3")]
    assert request.get_header("cookie") is None
    assert "s3cr" not in repr(HandshakeRequest("ws://h/", [("Cookie", "c=s3cr")], 0))
    with pytest.raises(AttributeError):
        request.url = "ws://elsewhere/"  # type: ignore[misc]


async def test_hook_sets_a_fresh_token_for_each_request(raw_server: StartRawServer) -> None:
    """An async hook runs before the first request and each redirect, with the URL it goes to."""
    second_seen: list[RawConnection] = []
    second = await raw_server(accepting(second_seen))

    async def redirect(conn: RawConnection) -> None:
        await conn.reject(302, headers=[("Location", second.url + "b?x=1")])

    first = await raw_server(redirect)
    calls: list[tuple[str, int, str | None]] = []

    async def hook(request: HandshakeRequest) -> None:
        await trio.lowlevel.checkpoint()
        calls.append((request.url, request.redirects, request.get_header("Authorization")))
        request.set_header("Authorization", f"Bearer token-{len(calls)}")

    ws, rec = closing_on_open(
        first.url + "a", headers={"Authorization": "Bearer stale"}, handshake_hook=hook
    )
    await run_to_end(ws)
    assert rec.names == ["open", "closed"], rec.events
    # The stale header= credential is dropped for the second origin before the hook sees it.
    assert calls == [(first.url + "a", 0, "Bearer stale"), (second.url + "b?x=1", 1, None)]
    assert first.connections[0].header("Authorization") == "Bearer token-1"
    assert second_seen[0].header("Authorization") == "Bearer token-2"


async def test_sync_hook_may_remove_and_add_headers(raw_server: StartRawServer) -> None:
    """A plain function may drop the default User-Agent and add repeated headers."""
    seen: list[RawConnection] = []
    server = await raw_server(accepting(seen))

    def hook(request: HandshakeRequest) -> None:
        request.remove_header("User-Agent")
        request.headers += [("X-Trace", "a"), ("X-Trace", "b")]

    ws, rec = closing_on_open(server.url, handshake_hook=hook)
    await run_to_end(ws)
    assert rec.names == ["open", "closed"], rec.events
    assert seen[0].header("User-Agent") is None
    assert [v for n, v in seen[0].headers if n == "X-Trace"] == ["a", "b"]


async def test_hook_exception_ends_the_attempt_with_the_cause_chained(
    raw_server: StartRawServer,
) -> None:
    """A hook that raises: on_error gets a ConnectError from it; no connection was made."""
    server = await raw_server(accepting([]))

    def hook(request: HandshakeRequest) -> None:
        raise LookupError("no token for this host")

    ws, rec = closing_on_open(server.url, handshake_hook=hook)
    await run_to_end(ws)
    error = rec.error
    assert type(error) is ConnectError
    assert isinstance(error.__cause__, LookupError)
    assert "handshake_hook raised LookupError" in str(error)
    assert server.connections == []


@pytest.mark.parametrize(
    ("hook_result", "complaint"),
    [
        ({"Authorization": "x"}, "returned a dict .* it must return None"),
        (42, "returned a int .* it must return None"),
    ],
)
async def test_hook_returning_garbage_is_refused(
    raw_server: StartRawServer, hook_result: object, complaint: str
) -> None:
    """A hook that returns something (sync or async) ends the attempt, saying what to do."""
    server = await raw_server(accepting([]))

    async def hook(request: HandshakeRequest) -> object:
        return hook_result

    ws, rec = closing_on_open(server.url, handshake_hook=hook)
    await run_to_end(ws)
    assert isinstance(rec.error, ConnectError)
    assert rec.error.__cause__ is None
    with pytest.raises(ConnectError, match=complaint):
        raise rec.error


@pytest.mark.parametrize(
    ("header", "complaint"),
    [
        (("Sec-WebSocket-Key", "k"), "set by the handshake"),
        (("X-Bad", "a\r\nInjected: 1"), "line break"),
        (("X-Bad", "\u20ac"), "outside latin-1"),
        (("X-Bad", 5), "must be str"),
    ],
)
async def test_hook_leaving_an_invalid_header_is_refused(
    raw_server: StartRawServer, header: tuple[str, object], complaint: str
) -> None:
    """Headers the hook leaves are checked as headers= is; a bad one ends the attempt."""
    server = await raw_server(accepting([]))

    def hook(request: HandshakeRequest) -> None:
        request.headers.append(header)  # type: ignore[arg-type]

    ws, rec = closing_on_open(server.url, handshake_hook=hook)
    await run_to_end(ws)
    assert isinstance(rec.error, ConnectError)
    assert "handshake_hook left an invalid header" in str(rec.error)
    assert complaint in str(rec.error)
    assert server.connections == []


async def test_slow_hook_is_bounded_by_connect_timeout() -> None:
    """A hook that never returns is cancelled by connect_timeout: ConnectTimeout."""

    async def hook(request: HandshakeRequest) -> None:
        await trio.sleep_forever()

    ws, rec = closing_on_open("ws://127.0.0.1:9/", handshake_hook=hook, connect_timeout=0.2)
    await run_to_end(ws, limit=5)
    assert isinstance(rec.error, ConnectTimeout)


def test_hook_must_be_callable() -> None:
    """handshake_hook= is a callable or None, checked at construction."""
    with pytest.raises(TypeError, match="handshake_hook must be a function"):
        WebSocket("ws://h/", handshake_hook="Bearer x")  # type: ignore[arg-type]
