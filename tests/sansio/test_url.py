"""URL parsing at construction: accepted forms, and ValueError naming what is wrong."""

from __future__ import annotations

import pytest

from trio_ws_events import WebSocket
from trio_ws_events._sansio.url import parse_url


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
        ("ws://host:99999/", "port 99999 is out of range 0-65535"),
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


@pytest.mark.parametrize(
    ("url", "host", "resource", "shown"),
    [
        ("ws://[::1]/", "::1", "/", "ws://[::1]/"),
        ("wss://[2001:db8::1]:443/x", "2001:db8::1", "/x", "wss://[2001:db8::1]/x"),
        ("wss://[::1]:8443", "::1", "/", "wss://[::1]:8443/"),
        ("ws://h/p%20q?a=%C3%BC", "h", "/p%20q?a=%C3%BC", "ws://h/p%20q?a=%C3%BC"),
        ("ws://h/caf\u00e9?q=\u00fc", "h", "/caf%C3%A9?q=%C3%BC", "ws://h/caf%C3%A9?q=%C3%BC"),
        ("ws://h/a;b/c?x=1&x=2&y", "h", "/a;b/c?x=1&x=2&y", "ws://h/a;b/c?x=1&x=2&y"),
        ("ws://h?only=query", "h", "/?only=query", "ws://h/?only=query"),
        ("ws://B\u00fccher.example/", "xn--bcher-kva.example", "/", "ws://xn--bcher-kva.example/"),
        ("ws://my_host.internal:81/", "my_host.internal", "/", "ws://my_host.internal:81/"),
        ("wss://h:80/", "h", "/", "wss://h:80/"),
        ("ws://h:443/", "h", "/", "ws://h:443/"),
    ],
)
def test_parse_url_host_and_target_forms(url: str, host: str, resource: str, shown: str) -> None:
    """IPv6 literals, escaping of non-ASCII path and query, IDNA hosts, explicit default ports."""
    parsed = parse_url(url)
    assert (parsed.host, parsed.resource, str(parsed)) == (host, resource, shown)


@pytest.mark.parametrize(
    ("url", "host_header", "authority"),
    [
        ("ws://h/", "h", "h:80"),
        ("wss://h/", "h", "h:443"),
        ("ws://h:8080/", "h:8080", "h:8080"),
        ("ws://[::1]/", "[::1]", "[::1]:80"),
        ("wss://[::1]:9443/", "[::1]:9443", "[::1]:9443"),
    ],
)
def test_host_header_and_connect_authority(url: str, host_header: str, authority: str) -> None:
    """Host omits the default port and brackets IPv6; the CONNECT authority always has a port."""
    parsed = parse_url(url)
    assert (parsed.host_header, parsed.authority) == (host_header, authority)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("ws://[::zz]/", "invalid IPv6 address in brackets"),
        ("ws://[::1/", "unbalanced '\\[' or '\\]'"),
        ("ws://a..b/", "not a valid host name"),
        ("ws://exa$mple.com/", "not a valid host name"),
        ("ws://h:80:81/", "port '80:81' is not a number; use 1-65535"),
        ("ws://h:-1/", "port '-1' is not a number"),
        ("ws://h/#", "fragment"),
        ("mailto:someone@example.com", "scheme 'mailto'"),
        ("//example.com/", "no scheme"),
        ("ws://:80/", "no host"),
        ("", "no scheme"),
    ],
)
def test_more_bad_urls_name_the_problem(url: str, complaint: str) -> None:
    """Each kind of bad URL gets a ValueError saying what is wrong."""
    with pytest.raises(ValueError, match=complaint):
        parse_url(url)


def test_bad_url_error_hides_credentials() -> None:
    """The password is replaced in the message, whatever else is wrong."""
    for url in ("ws://u:topsecret@h:99999/", "gopher://u:topsecret@h/", "ws://u:topsecret@h/#x"):
        with pytest.raises(ValueError, match=r"\*\*\*@h") as info:
            parse_url(url)
        assert "topsecret" not in str(info.value)


def test_credentials_never_show_in_repr_or_str() -> None:
    """repr() and str() of a URL with credentials show neither user nor password."""
    parsed = parse_url("wss://alice:pa%20ss@h/x")
    assert parsed.credentials == ("alice", "pa ss")
    assert "alice" not in repr(parsed)
    assert "pa" not in str(parsed)
    assert parse_url("ws://alice@h/").authorization == "Basic YWxpY2U6"


@pytest.mark.parametrize(
    ("base", "location", "expected"),
    [
        ("ws://h/a/b", "c", "ws://h/a/c"),
        ("ws://h/a/b?x=1", "/root?y=2", "ws://h/root?y=2"),
        ("ws://h:8080/a", "?q=1", "ws://h:8080/a?q=1"),
        ("wss://h/a", "//other.example/p", "wss://other.example/p"),
        ("ws://h/a", "https://s.example/secure", "wss://s.example/secure"),
        ("ws://h/a", "wss://s.example:9443/x#frag", "wss://s.example:9443/x"),
        ("ws://h/a", "  /trimmed  ", "ws://h/trimmed"),
        ("ws://[::1]:81/a", "b", "ws://[::1]:81/b"),
    ],
)
def test_join_resolves_a_location(base: str, location: str, expected: str) -> None:
    """Locations resolve as in a browser; http(s) maps to ws(s); fragments are dropped."""
    assert str(parse_url(base).join(location)) == expected


def test_join_keeps_credentials_for_the_same_origin_only() -> None:
    """Credentials follow a redirect on the same origin; elsewhere only the Location's own."""
    base = parse_url("ws://u:p@h/a")
    assert base.join("/b").credentials == ("u", "p")
    assert base.join("ws://h:80/c").credentials == ("u", "p")
    assert base.join("ws://other/").credentials is None
    assert base.join("wss://h/").credentials is None
    assert base.join("ws://v:q@other/").credentials == ("v", "q")


def test_join_rejects_unusable_locations() -> None:
    """A Location that is not a WebSocket URL is a ValueError without its password."""
    with pytest.raises(ValueError, match="scheme 'ftp'") as info:
        parse_url("ws://h/").join("ftp://x:secret@files/")
    assert "secret" not in str(info.value)


def test_parse_url_remembers_plain_urls_but_not_credentials() -> None:
    """A short URL without credentials is parsed once (W4 builds a WebSocket per
    connection); one with a password is never kept, and a failure is raised every time."""
    first = parse_url("ws://cache.example:8080/path?q=1")
    assert parse_url("ws://cache.example:8080/path?q=1") is first
    assert first.port == 8080
    assert first.resource == "/path?q=1"
    secret = parse_url("ws://u:secret@cache.example/")
    assert parse_url("ws://u:secret@cache.example/") is not secret
    long_url = "ws://cache.example/" + "a" * 600
    assert parse_url(long_url) is not parse_url(long_url)
    for _ in range(2):
        with pytest.raises(ValueError, match="port 0"):
            parse_url("ws://cache.example:0/")
