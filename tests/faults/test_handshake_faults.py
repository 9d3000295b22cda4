"""Hostile input before on_open (issue 11, items 12-16): redirects, secrets, headers, versions.

The servers are raw TCP scripts (``peers/raw_server.py``) that write exactly the bytes a test
chooses and record exactly what the client sent.
"""

from __future__ import annotations

import logging

import pytest
import trio
from conftest import StartRawServer
from peers.raw_server import RawConnection, Script, accept_key, accepting, read_until_close
from recorder import Recorder, run_to_end

from trio_ws_events import ConnectError, WebSocket
from trio_ws_events._sansio.url import parse_url
from trio_ws_events._trio.proxy import parse_proxy_url

#: The password of every URL below; found in no error, repr or log record.
PASSWORD_PIECES = ("s3cr", "zz9q")
CREDENTIAL_HEADERS = {
    "Authorization": "Bearer tok-XYZ",
    "Cookie": "session=abc123",
    "Proxy-Authorization": "Basic cHJveHk6cHc=",
}


def redirecting_to(location: str, seen: list[RawConnection]) -> Script:
    """A script that records the request and answers 302 to ``location``."""

    async def script(conn: RawConnection) -> None:
        seen.append(conn)
        await conn.reject(302, b"moved", headers=[("Location", location)])

    return script


async def open_and_close(url: str, **options: object) -> Recorder:
    """Open ``url``, close as soon as it opens, and wait for the end (10 s at most)."""
    ws = WebSocket(url, **options)  # type: ignore[arg-type]
    ws.on_open += lambda ws: ws.close()
    rec = Recorder(ws)
    await run_to_end(ws, limit=10)
    return rec


# ---------------------------------------------------------------- 12: credentials and origins


async def test_redirect_to_another_port_drops_credential_headers(
    raw_server: StartRawServer,
) -> None:
    """Authorization, Cookie and Proxy-Authorization of headers= stay with the first origin."""
    first_seen: list[RawConnection] = []
    second_seen: list[RawConnection] = []
    second = await raw_server(accepting(second_seen))
    first = await raw_server(redirecting_to(second.url + "next", first_seen))
    rec = await open_and_close(first.url, headers={**CREDENTIAL_HEADERS, "X-Other": "kept"})
    assert rec.names == ["open", "closed"], rec.events
    for name, value in CREDENTIAL_HEADERS.items():
        assert first_seen[0].header(name) == value
        assert second_seen[0].header(name) is None, second_seen[0].headers
    assert second_seen[0].header("X-Other") == "kept"


async def test_same_origin_redirect_keeps_credential_headers(raw_server: StartRawServer) -> None:
    """A redirect to the same scheme, host and port sends the credential headers again."""
    seen: list[RawConnection] = []

    async def script(conn: RawConnection) -> None:
        seen.append(conn)
        if conn.path == "/":
            await conn.reject(307, headers=[("Location", "/again")])
        else:
            await conn.accept_handshake()
            await read_until_close(conn)

    server = await raw_server(script)
    rec = await open_and_close(server.url, headers=CREDENTIAL_HEADERS)
    assert rec.names == ["open", "closed"], rec.events
    assert [c.path for c in seen] == ["/", "/again"]
    for name, value in CREDENTIAL_HEADERS.items():
        assert [c.header(name) for c in seen] == [value, value]


async def test_credentials_stay_dropped_after_a_redirect_back(raw_server: StartRawServer) -> None:
    """Once another origin was visited, a redirect back to the first gets no credentials."""
    seen: list[RawConnection] = []

    async def home(conn: RawConnection) -> None:
        seen.append(conn)
        if conn.path == "/":
            await conn.reject(302, headers=[("Location", away.url)])
        else:
            await conn.accept_handshake()
            await read_until_close(conn)

    server = await raw_server(home)
    away = await raw_server(redirecting_to(server.url + "back", seen))
    rec = await open_and_close(server.url, headers=CREDENTIAL_HEADERS)
    assert rec.names == ["open", "closed"], rec.events
    assert [c.header("Cookie") for c in seen] == ["session=abc123", None, None]


# ---------------------------------------------------------------- 13: passwords in errors

BAD_URLS = [
    "ws://alice:s3cr/tzz9q@host/",
    "ws://alice:s3cr#tzz9q@host/",
    "ws://alice:s3cr?tzz9q@host/",
    "ws://alice:s3cr[tzz9q@host/",
    "ws://alice:s3cr]zz9q@host:99/",
    "ws://alice:s3cr@zz9q@host:99999/",
    "ws://alice:s3cr:zz9q@host:x/",
    "ws://alice:s3cr\\zz9q@host/#frag",
    "gopher://alice:s3cr/zz9q@host/",
    "ws://alice:s3cr zz9q@host/",
    "ws://alice:s3crzz9q@[::1/",
    "ws://alice:s3crzz9q@h\u00e9\u2028/",
    "ws://s3cr:zz9q@/",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_url_error_shows_no_password(url: str) -> None:
    """Whatever the URL looks like, its refusal shows no piece of the password."""
    with pytest.raises(ValueError, match=r"invalid WebSocket URL|out of range") as info:
        WebSocket(url)
    for text in (str(info.value), repr(info.value)):
        assert not any(piece in text for piece in PASSWORD_PIECES), text
    # Nothing chained either: urllib's own error quotes pieces of the URL.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


@pytest.mark.parametrize("url", [u.replace("ws://", "http://", 1) for u in BAD_URLS[:8]])
def test_bad_proxy_url_error_shows_no_password(url: str) -> None:
    """A proxy URL's refusal, at construction or from the environment, hides its password."""
    with pytest.raises(ValueError, match=r"invalid proxy|out of range") as info:
        WebSocket("ws://127.0.0.1:9/", proxy=url)
    for text in (str(info.value), repr(info.value)):
        assert not any(piece in text for piece in PASSWORD_PIECES), text
    with pytest.raises(ValueError, match=r"\$HTTPS_PROXY") as info:
        parse_proxy_url(url, source="$HTTPS_PROXY")
    assert not any(piece in str(info.value) for piece in PASSWORD_PIECES)


@pytest.mark.parametrize("url", BAD_URLS[:4])
async def test_bad_environment_proxy_logs_no_password(
    url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken $http_proxy ends the attempt; neither the error nor any log record leaks."""
    caplog.set_level(logging.DEBUG, logger="trio_ws_events")
    monkeypatch.setenv("http_proxy", url.replace("ws://", "http://", 1))
    ws = WebSocket("ws://127.0.0.1:9/")
    rec = Recorder(ws)
    await run_to_end(ws)
    assert isinstance(rec.error, ConnectError)
    for text in (str(rec.error), repr(rec.error), caplog.text):
        assert not any(piece in text for piece in PASSWORD_PIECES), text


def test_header_type_error_shows_no_value() -> None:
    """A header of the wrong type is named by its name and types, never by its value."""
    with pytest.raises(TypeError, match="'Authorization'") as info:
        WebSocket("ws://h/", headers=[("Authorization", b"Bearer s3cr")])  # type: ignore[list-item]
    assert "s3cr" not in str(info.value)


# ---------------------------------------------------------------- 15: latin-1 header values


async def test_latin1_header_value_is_sent_as_latin1_bytes(raw_server: StartRawServer) -> None:
    """A value with characters 0x80-0xff goes out as those latin-1 bytes, one byte each."""
    seen: list[RawConnection] = []
    server = await raw_server(accepting(seen))
    rec = await open_and_close(server.url, headers={"X-Name": "Ren\u00e9e \u00e9t\u00e9 \u00ff"})
    assert rec.names == ["open", "closed"], rec.events
    # The raw server decodes the head as latin-1: the same text means the same bytes.
    assert seen[0].header("X-Name") == "Ren\u00e9e \u00e9t\u00e9 \u00ff"


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("caf\u20ac", "outside latin-1"),
        ("a\r\nX-Injected: yes", "line break"),
        ("a\nb", "line break"),
        ("a\x00b", "control character"),
    ],
)
def test_header_value_outside_latin1_or_with_line_breaks_is_refused(
    value: str, complaint: str
) -> None:
    """What cannot be sent as one latin-1 header line is refused at construction."""
    with pytest.raises(ValueError, match=complaint):
        WebSocket("ws://h/", headers={"X-Name": value})


# ---------------------------------------------------------------- 16: HTTP/1.0 101


async def test_http_1_0_switching_protocols_is_refused(raw_server: StartRawServer) -> None:
    """RFC 6455 4.1: a 101 in HTTP/1.0 is not an upgrade; ConnectError says why."""

    async def script(conn: RawConnection) -> None:
        key = conn.header("Sec-WebSocket-Key") or ""
        lines = [
            "HTTP/1.0 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept_key(key)}",
        ]
        await conn.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
        await conn.wait_eof()

    server = await raw_server(script)
    ws = WebSocket(server.url)
    rec = Recorder(ws)
    await run_to_end(ws)
    assert rec.names == ["error"]
    assert isinstance(rec.error, ConnectError)
    assert "HTTP/1.0" in str(rec.error)
    assert "HTTP/1.1 or higher" in str(rec.error)
    await server.wait_finished()


# ---------------------------------------------------------------- issue 16 item 13: messages


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ws://127.0.0.1:70000/", "ws://127.0.0.1:70000/"),
        ("wss://bob:pw-s3cr@h:65536/x", "wss://***@h:65536/x"),
    ],
)
def test_port_out_of_range_is_our_message(url: str, shown: str) -> None:
    """A port past 65535 is refused in our words, with the URL shown without credentials."""
    port = url.rsplit(":", 1)[1].split("/")[0]
    with pytest.raises(ValueError, match=f"port {port} is out of range 0-65535 in") as info:
        parse_url(url)
    assert shown in str(info.value)
    assert "Port" not in str(info.value)
    assert "s3cr" not in str(info.value)


def test_proxy_port_out_of_range_is_our_message() -> None:
    """The same message for a proxy URL's port, without its credentials."""
    with pytest.raises(ValueError, match="port 70000 is out of range 0-65535") as info:
        parse_proxy_url("http://bob:pw-s3cr@p:70000")
    assert "s3cr" not in str(info.value)


async def test_wss_to_a_plain_websocket_server_asks_about_tls(echo_url: str) -> None:
    """wss:// to a server speaking plain ws:// says to check that the port speaks TLS."""
    ws = WebSocket(echo_url.replace("ws://", "wss://"))
    rec = Recorder(ws)
    with trio.fail_after(10):
        await run_to_end(ws)
    assert isinstance(rec.error, ConnectError)
    assert "is the server speaking TLS on this port?" in str(rec.error)
