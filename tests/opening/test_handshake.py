"""The opening handshake: the sans-IO client, the options, redirects and rejections.

The first part feeds bytes to :class:`ClientHandshake` without any I/O; the rest runs the real
client against the raw server (``peers/raw_server.py``) on 127.0.0.1.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable

import h11
import pytest
import trio
from peers.raw_server import (
    Opcode,
    RawConnection,
    Script,
    StartRawServer,
    accept_key,
    build_frame,
)
from recorder import Recorder, run_to_end

from trio_ws_events import ConnectError, HandshakeRejected, WebSocket, __version__
from trio_ws_events._sansio.frames import accept_token
from trio_ws_events._sansio.handshake import (
    MAX_REJECT_BODY,
    Accepted,
    ClientHandshake,
    HandshakeError,
    Rejected,
)
from trio_ws_events._sansio.url import parse_url
from trio_ws_events._trio import connect as _connect
from trio_ws_events._trio.connect import ConnectOptions, Opened, open_connection

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
#: What RFC 6455 section 1.3 gives as the answer to KEY.
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
ACCEPT_LINE = f"Sec-WebSocket-Accept: {ACCEPT}"
STATUS_101 = "HTTP/1.1 101 Switching Protocols"


def response(*lines: str, body: bytes = b"") -> bytes:
    """An HTTP response head made of ``lines``, then ``body``."""
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def switching(*extra: str, accept: str = ACCEPT) -> bytes:
    """A valid 101 answer to :data:`KEY`, with ``extra`` header lines."""
    return response(
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept}",
        *extra,
    )


def handshake(**kwargs: object) -> ClientHandshake:
    """A handshake for ``example.com/chat`` with the fixed :data:`KEY`, request already made."""
    hs = ClientHandshake(host="example.com", target="/chat", key=KEY, **kwargs)  # type: ignore[arg-type]
    hs.request()
    return hs


def feed(hs: ClientHandshake, *chunks: bytes) -> Accepted | Rejected | None:
    """Feed ``chunks`` one by one and return the answer once there is one."""
    answer = None
    for chunk in chunks:
        hs.receive_data(chunk)
        answer = hs.next_answer()
    return answer


def request_lines(hs_request: bytes) -> list[str]:
    """The lines of a request head, without the blank line."""
    head, _, body = hs_request.partition(b"\r\n\r\n")
    assert body == b""
    return head.decode("latin-1").split("\r\n")


# ---------------------------------------------------------------- sans-IO: the request


def test_accept_token_matches_rfc_6455_example() -> None:
    """Sec-WebSocket-Accept is base64(SHA-1(key + GUID)), as in RFC 6455 section 1.3."""
    assert accept_token(KEY) == ACCEPT


def test_request_has_the_upgrade_headers_in_order() -> None:
    """GET target HTTP/1.1, then Host, Upgrade, Connection, key, version, protocols, extensions."""
    hs = ClientHandshake(
        host="example.com:8080",
        target="/chat?room=1",
        protocols=["graphql-transport-ws", "mqtt"],
        extensions="permessage-deflate; client_max_window_bits",
        headers=[("Origin", "https://app.example"), ("X-Token", "a"), ("X-Token", "b")],
    )
    lines = request_lines(hs.request())
    assert lines == [
        "GET /chat?room=1 HTTP/1.1",
        "Host: example.com:8080",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {hs.key}",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: graphql-transport-ws, mqtt",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "Origin: https://app.example",
        "X-Token: a",
        "X-Token: b",
    ]


def test_request_key_is_16_random_bytes() -> None:
    """Each handshake makes a fresh key of 16 random bytes, base64-encoded."""
    keys = {ClientHandshake(host="h", target="/").key for _ in range(5)}
    assert len(keys) == 5
    assert all(len(base64.b64decode(key)) == 16 for key in keys)


def test_request_without_protocols_or_extensions_omits_them() -> None:
    """No Sec-WebSocket-Protocol or -Extensions header when none are offered."""
    lines = request_lines(ClientHandshake(host="h", target="/").request())
    assert not any(line.lower().startswith("sec-websocket-protocol") for line in lines)
    assert not any(line.lower().startswith("sec-websocket-extensions") for line in lines)


def test_request_host_header_can_be_replaced() -> None:
    """A Host among the headers replaces the one from the URL, in the same place."""
    hs = ClientHandshake(host="10.0.0.1", target="/", headers=[("host", "virtual.example")])
    lines = request_lines(hs.request())
    assert lines[1] == "Host: virtual.example"
    assert sum(line.lower().startswith("host:") for line in lines) == 1


def test_request_is_what_h11_would_write() -> None:
    """The hand-written request has the bytes h11 writes for the same request."""
    hs = ClientHandshake(
        host="example.com",
        target="/a?b=1",
        protocols=["chat"],
        extensions="permessage-deflate",
        headers=[("Origin", "https://app.example"), ("X-Name", "Ren\u00e9e")],
    )
    ours = hs.request()
    headers = [(name.encode(), value.encode("latin-1")) for name, value in hs._request_headers]
    h11_connection = h11.Connection(h11.CLIENT)
    h11_bytes = h11_connection.send(h11.Request(method="GET", target="/a?b=1", headers=headers))
    assert ours == h11_bytes


@pytest.mark.parametrize("where", ["target", "value"])
def test_request_refuses_a_line_break(where: str) -> None:
    """A CR or LF in the target or a header (unchecked input) raises instead of splitting."""
    target, value = ("/a\r\nX-Evil: 1", "v") if where == "target" else ("/", "v\nX-Evil: 1")
    hs = ClientHandshake(host="h", target=target, headers=[("X-Ok", value)])
    with pytest.raises(ValueError, match="CR or LF"):
        hs.request()


# ---------------------------------------------------------------- sans-IO: the answer


def test_request_writes_latin1_values_as_single_bytes() -> None:
    """A header value with U+0080-U+00FF becomes those latin-1 bytes (obs-text), not UTF-8."""
    hs = ClientHandshake(host="h", target="/", headers=[("X-Name", "Ren\u00e9e \u00ff")])
    assert b"\r\nX-Name: Ren\xe9e \xff\r\n" in hs.request()


def test_valid_101_is_accepted_with_trailing_frames() -> None:
    """A valid 101 gives the headers (names lower-cased) and the bytes after the head."""
    frame = build_frame(Opcode.TEXT, b"hello")
    hs = handshake(protocols=["chat"])
    answer = feed(hs, switching("Sec-WebSocket-Protocol: chat", "X-Server: raw") + frame)
    assert isinstance(answer, Accepted)
    assert answer.subprotocol == "chat"
    assert answer.extensions is None
    assert answer.trailing == frame
    assert ("x-server", "raw") in answer.headers
    assert ("sec-websocket-accept", ACCEPT) in answer.headers


def test_101_arriving_byte_by_byte_is_accepted() -> None:
    """The answer may come in any pieces; nothing is decided before the head is complete."""
    hs = handshake()
    data = switching()
    for index in range(len(data) - 1):
        hs.receive_data(data[index : index + 1])
        assert hs.next_answer() is None
    assert isinstance(feed(hs, data[-1:]), Accepted)


def test_informational_answers_before_101_are_skipped() -> None:
    """100 Continue and 103 Early Hints may precede the 101."""
    hs = handshake()
    answer = feed(
        hs, response("HTTP/1.1 100 Continue"), response("HTTP/1.1 103 Early Hints") + switching()
    )
    assert isinstance(answer, Accepted)


def test_upgrade_and_connection_tokens_are_case_insensitive_lists() -> None:
    """'Upgrade: WebSocket' and 'Connection: keep-alive, upgrade' are valid."""
    hs = handshake()
    data = response(
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: WebSocket",
        "Connection: keep-alive, upgrade",
        f"Sec-WebSocket-Accept: {ACCEPT}",
    )
    assert isinstance(feed(hs, data), Accepted)


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (switching(accept="d3Jvbmc="), "does not match the key"),
        (response(STATUS_101, "Connection: Upgrade", ACCEPT_LINE), "Upgrade: websocket"),
        (response(STATUS_101, "Upgrade: websocket", ACCEPT_LINE), "Connection: Upgrade"),
        (response(STATUS_101, "Upgrade: websocket", "Connection: Upgrade"), "missing does not"),
        (switching(f"Sec-WebSocket-Accept: {ACCEPT}"), "does not match"),
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not valid HTTP/1.1"),
        (
            response(
                "HTTP/1.0 101 Switching Protocols",
                "Upgrade: websocket",
                "Connection: Upgrade",
                ACCEPT_LINE,
            ),
            "101 in HTTP/1.0: RFC 6455 requires HTTP/1.1 or higher",
        ),
    ],
)
def test_invalid_101_is_a_handshake_error(data: bytes, complaint: str) -> None:
    """A 101 breaking RFC 6455 4.1 (or no HTTP at all) raises HandshakeError saying why."""
    hs = handshake()
    with pytest.raises(HandshakeError, match=complaint):
        feed(hs, data)


def test_subprotocol_not_offered_is_refused() -> None:
    """A subprotocol the client did not offer fails the handshake, naming it."""
    hs = handshake(protocols=["chat"])
    with pytest.raises(HandshakeError, match="server chose subprotocol 'mqtt' we did not offer"):
        feed(hs, switching("Sec-WebSocket-Protocol: mqtt"))
    hs = handshake()
    with pytest.raises(HandshakeError, match="'chat' we did not offer \\(offered: none\\)"):
        feed(hs, switching("Sec-WebSocket-Protocol: chat"))


def test_several_subprotocols_are_refused() -> None:
    """The server must choose one subprotocol, not several."""
    hs = handshake(protocols=["a", "b"])
    with pytest.raises(HandshakeError, match="several subprotocols"):
        feed(hs, switching("Sec-WebSocket-Protocol: a, b"))


def test_extensions_not_offered_are_refused() -> None:
    """Extensions in the answer when none were offered fail the handshake (RFC 6455 4.1)."""
    hs = handshake()
    with pytest.raises(HandshakeError, match="extensions 'permessage-deflate' we did not offer"):
        feed(hs, switching("Sec-WebSocket-Extensions: permessage-deflate"))


def test_extensions_offered_come_back_raw_and_joined() -> None:
    """When extensions were offered, the answer's value is handed over raw for the caller."""
    hs = handshake(extensions="permessage-deflate")
    answer = feed(
        hs,
        switching(
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover",
            "Sec-WebSocket-Extensions: x-other",
        ),
    )
    assert isinstance(answer, Accepted)
    assert answer.extensions == "permessage-deflate; server_no_context_takeover, x-other"


def test_rejection_with_content_length_body() -> None:
    """A non-101 answer is Rejected with status, reason, headers and body."""
    hs = handshake()
    answer = feed(
        hs, response("HTTP/1.1 403 Forbidden", "Content-Length: 7", "X-Why: test", body=b"go away")
    )
    headers = [("content-length", "7"), ("x-why", "test")]
    assert answer == Rejected(403, "Forbidden", headers, b"go away")
    assert answer.header("x-why") == "test"


def test_rejection_body_until_end_of_stream() -> None:
    """Without Content-Length the body runs to the end of the stream."""
    hs = handshake()
    assert feed(hs, response("HTTP/1.1 500 Oops", body=b"part 1, ")) is None
    assert hs.status == 500
    answer = feed(hs, b"part 2", b"")
    assert isinstance(answer, Rejected)
    assert answer.body == b"part 1, part 2"


def test_rejected_body_keeps_the_first_64_kib() -> None:
    """Only the first 64 KiB of the body are kept; the answer is complete at that point."""
    hs = handshake()
    head = response("HTTP/1.1 400 Bad Request", f"Content-Length: {MAX_REJECT_BODY * 2}")
    answer = feed(hs, head + b"x" * (MAX_REJECT_BODY - 1), b"yz" * 1000)
    assert isinstance(answer, Rejected)
    assert answer.body == b"x" * (MAX_REJECT_BODY - 1) + b"y"


def test_rejection_body_cut_short_keeps_what_came() -> None:
    """End of stream before Content-Length is reached: the body is what arrived."""
    hs = handshake()
    answer = feed(hs, response("HTTP/1.1 404 Not Found", "Content-Length: 100", body=b"abc"), b"")
    assert isinstance(answer, Rejected)
    assert answer.body == b"abc"


def test_rejection_snapshot_before_the_body_ends() -> None:
    """rejection() gives the answer so far without waiting; it needs a head first."""
    hs = handshake()
    with pytest.raises(RuntimeError):
        hs.rejection()
    feed(hs, response("HTTP/1.1 302 Found", "Location: /x", "Content-Length: 9", body=b"abc"))
    headers = [("location", "/x"), ("content-length", "9")]
    assert hs.rejection() == Rejected(302, "Found", headers, b"abc")


# ---------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("options", "error", "complaint"),
    [
        ({"headers": "X: y"}, TypeError, "mapping or \\(name, value\\) pairs"),
        ({"headers": [("X", 1)]}, TypeError, "must be str"),
        ({"headers": [("X",)]}, TypeError, "mapping or"),
        ({"headers": {"Bad Name": "v"}}, ValueError, "invalid header name"),
        ({"headers": {"X": "a\r\nInjected: yes"}}, ValueError, "line break"),
        ({"headers": {"X": "caf\u20ac"}}, ValueError, "latin-1"),
        ({"headers": {"Sec-WebSocket-Key": "k"}}, ValueError, "set by the handshake"),
        ({"headers": {"sec-websocket-protocol": "p"}}, ValueError, "use protocols="),
        ({"headers": {"Upgrade": "h2c"}}, ValueError, "set by the handshake"),
        ({"protocols": "chat"}, TypeError, "not a str"),
        ({"protocols": ["a b"]}, ValueError, "non-empty token"),
        ({"protocols": [""]}, ValueError, "non-empty token"),
        ({"protocols": ["chat", "chat"]}, ValueError, "twice"),
        ({"origin": 5}, TypeError, "origin must be a str"),
        ({"origin": "https://a\n"}, ValueError, "line break"),
        ({"origin": "https://a", "headers": {"origin": "b"}}, ValueError, "not both"),
        ({"user_agent": b"x"}, TypeError, "user_agent must be a str"),
        ({"user_agent": "x", "headers": {"User-Agent": "y"}}, ValueError, "not both"),
        ({"ssl_context": object()}, TypeError, "ssl.SSLContext"),
        ({"max_redirects": -1}, ValueError, "0 or more"),
        ({"max_redirects": True}, TypeError, "must be an int"),
        ({"max_redirects": 2.0}, TypeError, "must be an int"),
        ({"proxy": 3128}, TypeError, "proxy must be a str"),
        ({"proxy": "ftp://p:21"}, ValueError, "use http://, https://, socks5:// or socks5h://"),
        ({"extensions": "a\r\nb"}, ValueError, "line break"),
    ],
)
def test_invalid_options_name_what_is_allowed(
    options: dict[str, object], error: type[Exception], complaint: str
) -> None:
    """Each option is checked at construction; the message says what is allowed."""
    with pytest.raises(error, match=complaint):
        ConnectOptions.build(**options)  # type: ignore[arg-type]
    if "extensions" not in options:  # filled in by the frame layer, not a WebSocket option
        with pytest.raises(error, match=complaint):
            WebSocket("ws://127.0.0.1:9/", **options)  # type: ignore[arg-type]


def test_valid_options_are_frozen() -> None:
    """Headers from a mapping or repeated pairs keep their order; values are stripped."""
    options = ConnectOptions.build(
        headers=[("X-A", " 1 "), ("X-A", "2")],
        protocols=("a", "b"),
        max_redirects=0,
        user_agent=None,
        extensions="permessage-deflate",
    )
    assert options.headers == (("X-A", "1"), ("X-A", "2"))
    assert options.protocols == ("a", "b")
    assert (options.max_redirects, options.user_agent) == (0, None)
    assert options.extensions == "permessage-deflate"
    assert ConnectOptions.build(headers={"A": "1", "B": "2"}).headers == (("A", "1"), ("B", "2"))


# ---------------------------------------------------------------- against a real peer


async def connect(url: str, **options: object) -> Opened:
    """open_connection() with ``options``, bounded by 5 seconds."""
    with trio.fail_after(5):
        return await open_connection(parse_url(url), ConnectOptions.build(**options))  # type: ignore[arg-type]


def accepting(check: Callable[[RawConnection], None] | None = None, **accept: object) -> Script:
    """A script that runs ``check`` on the request, accepts it, and waits for EOF."""

    async def script(conn: RawConnection) -> None:
        if check is not None:
            check(conn)
        await conn.accept_handshake(**accept)  # type: ignore[arg-type]
        await conn.wait_eof()

    return script


async def test_request_headers_reach_the_server(raw_server: StartRawServer) -> None:
    """Origin, the default User-Agent, repeated user headers and the target arrive as sent."""
    seen: list[RawConnection] = []
    server = await raw_server(accepting(seen.append))
    url = server.url + "a/b?x=1&y=%C3%BC"
    opened = await connect(
        url, origin="https://app.example", headers=[("X-Token", "one"), ("X-Token", "two")]
    )
    await opened.stream.aclose()
    await server.wait_finished()
    conn = seen[0]
    assert conn.request_line == "GET /a/b?x=1&y=%C3%BC HTTP/1.1"
    assert conn.header("Host") == f"127.0.0.1:{server.port}"
    assert conn.header("Origin") == "https://app.example"
    assert conn.header("User-Agent") == f"trio-ws-events/{__version__}"
    assert conn.header("Sec-WebSocket-Version") == "13"
    assert [v for n, v in conn.headers if n == "X-Token"] == ["one", "two"]
    assert conn.header("Authorization") is None


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"user_agent": None}, None),
        ({"user_agent": "my-bot/2"}, "my-bot/2"),
        ({"headers": {"user-agent": "from-headers/1"}}, "from-headers/1"),
    ],
)
async def test_user_agent_can_be_replaced_or_dropped(
    raw_server: StartRawServer, options: dict[str, object], expected: str | None
) -> None:
    """user_agent=None sends no User-Agent; a str or a User-Agent header replaces the default."""
    seen: list[RawConnection] = []
    server = await raw_server(accepting(seen.append))
    opened = await connect(server.url, **options)
    await opened.stream.aclose()
    await server.wait_finished()
    assert seen[0].header("User-Agent") == expected
    assert sum(n.lower() == "user-agent" for n, _ in seen[0].headers) == (expected is not None)


async def test_url_credentials_become_basic_auth(raw_server: StartRawServer) -> None:
    """user:password@ in the URL is sent as Basic Authorization, unescaped first."""
    seen: list[RawConnection] = []
    server = await raw_server(accepting(seen.append))
    url = server.url.replace("ws://", "ws://alice:s%40cret@")
    opened = await connect(url)
    await opened.stream.aclose()
    await server.wait_finished()
    assert seen[0].header("Authorization") == "Basic " + base64.b64encode(b"alice:s@cret").decode()


async def test_authorization_header_replaces_url_credentials(raw_server: StartRawServer) -> None:
    """An Authorization header given in headers wins over the URL's credentials."""
    seen: list[RawConnection] = []
    server = await raw_server(accepting(seen.append))
    url = server.url.replace("ws://", "ws://alice:secret@")
    opened = await connect(url, headers={"Authorization": "Bearer t0ken"})
    await opened.stream.aclose()
    await server.wait_finished()
    assert [v for n, v in seen[0].headers if n.lower() == "authorization"] == ["Bearer t0ken"]


async def test_opened_carries_subprotocol_headers_trailing_and_url(
    raw_server: StartRawServer,
) -> None:
    """Opened holds the chosen subprotocol, the response headers and the first frames."""
    frame = build_frame(Opcode.TEXT, b"early")

    async def script(conn: RawConnection) -> None:
        key = conn.header("Sec-WebSocket-Key") or ""
        await conn.send_raw(
            response(
                "HTTP/1.1 101 Switching Protocols",
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Accept: {accept_key(key)}",
                "Sec-WebSocket-Protocol: v2",
                "X-Served-By: raw",
            )
            + frame
        )
        await conn.wait_eof()

    server = await raw_server(script)
    opened = await connect(server.url, protocols=["v1", "v2"])
    try:
        assert opened.subprotocol == "v2"
        assert opened.extensions is None
        assert ("x-served-by", "raw") in opened.headers
        assert opened.url == parse_url(server.url)
        # The frames that came with the answer are kept for the frame layer, not lost.
        if opened.trailing != frame:
            assert frame.startswith(opened.trailing)
            rest = frame[len(opened.trailing) :]
            with trio.fail_after(5):
                while rest:
                    chunk = await opened.stream.receive_some()
                    assert rest.startswith(chunk)
                    rest = rest[len(chunk) :]
    finally:
        await opened.stream.aclose()
    await server.wait_finished()


async def test_websocket_reports_subprotocol_and_response_headers(
    raw_server: StartRawServer,
) -> None:
    """ws.subprotocol is the server's choice; ws.response_headers its headers; frames flow."""
    received: list[str] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake(subprotocol="chat", headers=[("X-Room", "lobby")])
        await conn.send_frame(Opcode.TEXT, b"welcome")
        await conn.read_close()
        await conn.send_frame(Opcode.CLOSE, b"\x03\xe8")

    server = await raw_server(script)
    ws = WebSocket(server.url, protocols=["chat", "superchat"])

    @ws.on_message
    def on_message(ws: WebSocket, message: str) -> None:
        received.append(message)
        received.append(ws.subprotocol or "")
        received.append(dict(ws.response_headers).get("x-room", ""))
        ws.close()

    await run_to_end(ws)
    await server.wait_finished()
    assert received == ["welcome", "chat", "lobby"]


async def test_server_choosing_no_subprotocol_gives_none(raw_server: StartRawServer) -> None:
    """Offering subprotocols does not oblige the server to choose one."""
    server = await raw_server(accepting())
    opened = await connect(server.url, protocols=["chat"])
    await opened.stream.aclose()
    assert opened.subprotocol is None


async def test_unoffered_subprotocol_is_connect_error(raw_server: StartRawServer) -> None:
    """A 101 choosing a subprotocol we did not offer ends in ConnectError naming it."""
    server = await raw_server(accepting(subprotocol="evil"))
    ws = WebSocket(server.url, protocols=["chat"])
    rec = Recorder(ws)
    await run_to_end(ws)
    assert type(rec.error) is ConnectError
    assert "server chose subprotocol 'evil' we did not offer" in str(rec.error)
    assert server.url in str(rec.error)
    await server.wait_finished()


async def test_server_closing_before_answering_is_connect_error(
    raw_server: StartRawServer,
) -> None:
    """EOF instead of an answer is a ConnectError saying so."""

    async def script(conn: RawConnection) -> None:
        await conn.stream.aclose()

    server = await raw_server(script)
    with pytest.raises(ConnectError, match="closed the connection during the opening handshake"):
        await connect(server.url)


async def test_non_http_answer_is_connect_error(raw_server: StartRawServer) -> None:
    """Something that is not HTTP is an invalid handshake response."""

    async def script(conn: RawConnection) -> None:
        await conn.send_raw(b"220 smtp.example ESMTP ready\r\n\r\n")
        await conn.wait_eof()

    server = await raw_server(script)
    with pytest.raises(ConnectError, match="invalid handshake response from") as info:
        await connect(server.url)
    assert info.value.url == server.url


# ---------------------------------------------------------------- rejections


async def test_rejection_body_is_capped_at_64_kib(raw_server: StartRawServer) -> None:
    """A large rejection body is cut to its first 64 KiB; the status and headers are kept."""

    async def script(conn: RawConnection) -> None:
        await conn.reject(400, b"e" * (MAX_REJECT_BODY + 5000), headers=[("X-Reason", "big")])

    server = await raw_server(script)
    with pytest.raises(HandshakeRejected) as info:
        await connect(server.url)
    error = info.value
    assert (error.status, len(error.body)) == (400, MAX_REJECT_BODY)
    assert ("x-reason", "big") in error.headers
    assert str(error) == f"{server.url} rejected the WebSocket handshake with HTTP 400 Bad Request"


async def test_rejection_body_held_open_does_not_hang(
    raw_server: StartRawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body announced longer than sent, the socket kept open: the error still comes."""
    monkeypatch.setattr(_connect, "REJECT_BODY_GRACE", 0.2)

    async def script(conn: RawConnection) -> None:
        await conn.send_raw(response("HTTP/1.1 503 Busy", "Content-Length: 1000", body=b"wait"))
        await conn.wait_eof()

    server = await raw_server(script)
    start = trio.current_time()
    with pytest.raises(HandshakeRejected) as info:
        await connect(server.url)
    assert trio.current_time() - start < 2
    assert (info.value.status, info.value.body) == (503, b"wait")
    await server.wait_finished()  # the client closed its socket


async def test_rejection_body_until_close(raw_server: StartRawServer) -> None:
    """Without Content-Length the body is read until the server closes."""

    async def script(conn: RawConnection) -> None:
        await conn.send_raw(response("HTTP/1.1 200 OK", "Content-Type: text/html", body=b"<h1>"))
        await trio.sleep(0.05)
        await conn.send_raw(b"not a websocket</h1>")

    server = await raw_server(script)
    with pytest.raises(HandshakeRejected) as info:
        await connect(server.url)
    assert info.value.status == 200
    assert info.value.body == b"<h1>not a websocket</h1>"


async def test_rejection_hides_url_credentials(
    raw_server: StartRawServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Credentials appear in no error, URL, repr or log line, even at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="trio_ws_events")

    async def script(conn: RawConnection) -> None:
        await conn.reject(401, b"who are you")

    server = await raw_server(script)
    ws = WebSocket(server.url.replace("ws://", "ws://bob:hunter2@"))
    rec = Recorder(ws)
    await run_to_end(ws)
    error = rec.error
    assert isinstance(error, HandshakeRejected)
    assert error.status == 401
    shown = [str(error), repr(error), error.url or "", ws.url, repr(ws), caplog.text]
    assert not any("hunter2" in text or "bob" in text for text in shown), shown
    assert server.url in str(error)


# ---------------------------------------------------------------- redirects


def redirecting(status: int, location: str) -> Script:
    """A script answering every request with ``status`` and ``Location: location``."""

    async def script(conn: RawConnection) -> None:
        await conn.reject(status, b"moved", headers=[("Location", location)])

    return script


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_is_followed(raw_server: StartRawServer, status: int) -> None:
    """Each redirect status leads to the Location (http:// read as ws://), which accepts."""
    seen: list[RawConnection] = []
    target = await raw_server(accepting(seen.append))
    location = target.url.replace("ws://", "http://") + "there?q=1"
    first = await raw_server(redirecting(status, location))
    opened = await connect(first.url + "here")
    await opened.stream.aclose()
    assert opened.url == parse_url(target.url + "there?q=1")
    assert seen[0].request_line == "GET /there?q=1 HTTP/1.1"
    assert first.connections[0].request_line == "GET /here HTTP/1.1"


async def test_relative_redirect_is_resolved(raw_server: StartRawServer) -> None:
    """A relative Location is resolved against the URL that answered."""

    async def script(conn: RawConnection) -> None:
        if conn.path == "/app/start":
            await conn.reject(302, headers=[("Location", "next?step=2")])
        else:
            assert conn.path == "/app/next?step=2"
            await conn.accept_handshake()
            await conn.wait_eof()

    server = await raw_server(script)
    opened = await connect(server.url + "app/start")
    await opened.stream.aclose()
    assert str(opened.url) == server.url + "app/next?step=2"
    assert [c.path for c in server.connections] == ["/app/start", "/app/next?step=2"]


@pytest.mark.parametrize("in_header", [False, True])
async def test_redirect_keeps_credentials_only_for_the_same_origin(
    raw_server: StartRawServer, in_header: bool
) -> None:
    """Authorization (from the URL or headers) follows a redirect on the same origin only."""
    seen: list[RawConnection] = []
    other = await raw_server(accepting(seen.append))

    async def script(conn: RawConnection) -> None:
        seen.append(conn)
        if conn.path == "/one":
            await conn.reject(307, headers=[("Location", "/two")])
        else:
            await conn.reject(307, headers=[("Location", other.url + "three")])

    server = await raw_server(script)
    if in_header:
        url = server.url + "one"
        headers = {"X-Keep": "yes", "Authorization": "Bearer t0ken"}
    else:
        url = server.url.replace("ws://", "ws://carol:pw@") + "one"
        headers = {"X-Keep": "yes"}
    opened = await connect(url, headers=headers)
    await opened.stream.aclose()
    assert [c.path for c in seen] == ["/one", "/two", "/three"]
    assert [c.header("Authorization") is not None for c in seen] == [True, True, False]
    assert [c.header("X-Keep") for c in seen] == ["yes", "yes", "yes"]


async def test_too_many_redirects_is_rejected(raw_server: StartRawServer) -> None:
    """Past max_redirects the redirect itself is the rejection, with its status and headers."""
    server = await raw_server(redirecting(302, "/again"))
    with pytest.raises(HandshakeRejected) as info:
        await connect(server.url, max_redirects=3)
    error = info.value
    assert error.status == 302
    assert ("location", "/again") in error.headers
    assert "max_redirects=3 reached" in str(error)
    assert str(error).startswith(f"{server.url}again (redirected from {server.url})")
    assert error.url == server.url
    assert len(server.connections) == 4


async def test_max_redirects_zero_follows_none(raw_server: StartRawServer) -> None:
    """max_redirects=0 turns the first redirect into a HandshakeRejected."""
    server = await raw_server(redirecting(301, "/elsewhere"))
    ws = WebSocket(server.url, max_redirects=0)
    rec = Recorder(ws)
    await run_to_end(ws)
    error = rec.error
    assert isinstance(error, HandshakeRejected)
    assert (error.status, error.body) == (301, b"moved")
    assert len(server.connections) == 1


async def test_redirect_without_location_is_rejected(raw_server: StartRawServer) -> None:
    """A 3xx with no Location cannot be followed: HandshakeRejected."""

    async def script(conn: RawConnection) -> None:
        await conn.reject(302, b"nowhere")

    server = await raw_server(script)
    with pytest.raises(HandshakeRejected) as info:
        await connect(server.url)
    assert (info.value.status, info.value.body) == (302, b"nowhere")


async def test_redirect_to_unusable_url_is_connect_error(raw_server: StartRawServer) -> None:
    """A Location with another scheme is refused with a ConnectError hiding credentials."""
    server = await raw_server(redirecting(301, "ftp://user:pw@files.example/"))
    with pytest.raises(
        ConnectError, match=r"redirected to an unusable URL: .*scheme 'ftp'"
    ) as info:
        await connect(server.url)
    assert "pw" not in str(info.value)


async def test_cancel_while_following_redirects_closes_sockets(raw_server: StartRawServer) -> None:
    """Cancelled at the second hop: both connections end, nothing is left open."""
    hop = await raw_server(lambda conn: conn.never_answer())
    first = await raw_server(redirecting(308, hop.url))
    with trio.move_on_after(0.5) as scope:
        await open_connection(parse_url(first.url), ConnectOptions.build())
    assert scope.cancelled_caught
    await hop.wait_finished()  # the hop saw EOF: the client closed its socket
    await first.wait_finished()
