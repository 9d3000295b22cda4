"""URL parsing at construction: accepted forms, and ValueError naming what is wrong."""

from __future__ import annotations

import pytest

from trio_ws_events import WebSocket
from trio_ws_events._url import parse_url


@pytest.mark.parametrize(
    ("url", "secure", "host", "port", "resource", "shown"),
    [
        ("ws://example.com", False, "example.com", 80, "/", "ws://example.com/"),
        (
            "wss://example.com/a/b?x=1&y=2",
            True,
            "example.com",
            443,
            "/a/b?x=1&y=2",
            "wss://example.com/a/b?x=1&y=2",
        ),
        (
            "http://127.0.0.1:8765/chat",
            False,
            "127.0.0.1",
            8765,
            "/chat",
            "ws://127.0.0.1:8765/chat",
        ),
        ("https://h:443/", True, "h", 443, "/", "wss://h/"),
        ("ws://[::1]:9000/p", False, "::1", 9000, "/p", "ws://[::1]:9000/p"),
        ("WS://Example.COM:80/", False, "example.com", 80, "/", "ws://example.com/"),
    ],
)
def test_parse_url_accepts(
    url: str, secure: bool, host: str, port: int, resource: str, shown: str
) -> None:
    """ws, wss, http and https URLs parse with default ports, IPv6 literals, path and query."""
    parsed = parse_url(url)
    assert (parsed.secure, parsed.host, parsed.port, parsed.resource) == (
        secure,
        host,
        port,
        resource,
    )
    assert str(parsed) == shown


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("ftp://example.com/", "scheme 'ftp'"),
        ("example.com/chat", "no scheme"),
        ("ws:///path", "no host"),
        ("ws://host:99999/", "Port out of range"),
        ("ws://host:0/", "port 0"),
        ("ws://host/#frag", "fragment"),
        ("ws://host/a b", "whitespace"),
    ],
)
def test_bad_url_is_value_error_naming_the_problem(url: str, complaint: str) -> None:
    """A bad URL fails at construction with a ValueError saying what was wrong."""
    with pytest.raises(ValueError, match=complaint):
        WebSocket(url)


def test_url_must_be_str() -> None:
    """A non-string URL is a TypeError."""
    with pytest.raises(TypeError, match="url must be a str"):
        WebSocket(b"ws://host/")  # type: ignore[arg-type]


def test_credentials_become_basic_auth_and_are_hidden() -> None:
    """user:pass@ turns into an Authorization header and shows nowhere."""
    ws = WebSocket("ws://alice:s%3Acret@127.0.0.1:9/x")
    assert ws.url == "ws://127.0.0.1:9/x"
    assert "cret" not in repr(ws)
    assert parse_url("ws://alice:s%3Acret@h/").authorization == "Basic YWxpY2U6czpjcmV0"
    with pytest.raises(ValueError, match="scheme 'ftp'") as info:
        WebSocket("ftp://alice:secret@host/")
    assert "secret" not in str(info.value)
