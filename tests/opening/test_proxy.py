"""Proxies: proxy URLs, the environment variables read as curl does, and real tunnels.

The tunnels go through pproxy, a real HTTP CONNECT and SOCKS5 proxy from PyPI, run as a
subprocess on 127.0.0.1 (``peers/proxy_server.py``); its log tells which tunnels it opened.
"""

from __future__ import annotations

import base64
import re

import pytest
import trio
from conftest import PROXY_CREDENTIALS
from peers.proxy_server import ProxyProcess
from peers.raw_server import RawConnection, StartRawServer
from peers.tls_server import TLSServer
from recorder import Recorder, echo_once, run_to_end

from trio_ws_events import ConnectError, WebSocket
from trio_ws_events._sansio.url import parse_url
from trio_ws_events._trio.connect import ConnectOptions, Opened, open_connection
from trio_ws_events._trio.proxy import (
    ProxyURL,
    bypasses_proxy,
    parse_proxy_url,
    proxy_from_environment,
)

PROXY_VARIABLES = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "REQUEST_METHOD",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable from the machine running the tests leaks into them."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


# ---------------------------------------------------------------- proxy URLs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://proxy:3128", ProxyURL("http", "proxy", 3128)),
        ("proxy.example:8080", ProxyURL("http", "proxy.example", 8080)),
        ("http://proxy", ProxyURL("http", "proxy", 1080)),
        ("https://proxy", ProxyURL("https", "proxy", 443)),
        ("https://u:p@proxy:8443", ProxyURL("https", "proxy", 8443, ("u", "p"))),
        ("HTTP://Proxy:3128/", ProxyURL("http", "proxy", 3128)),
        ("socks5://127.0.0.1:1080", ProxyURL("socks5", "127.0.0.1", 1080)),
        ("socks5h://[::1]:9050", ProxyURL("socks5h", "::1", 9050)),
        ("http://u%40x:p%3Aw@p:1", ProxyURL("http", "p", 1, ("u@x", "p:w"))),
        ("  http://p:2  ", ProxyURL("http", "p", 2)),
    ],
)
def test_parse_proxy_url(text: str, expected: ProxyURL) -> None:
    """Schemes http, socks5, socks5h; no scheme means http; 1080 is the default port."""
    parsed = parse_proxy_url(text)
    assert parsed == expected
    assert parsed.credentials == expected.credentials


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("socks4://p:1080", "scheme 'socks4'; use http://, https://, socks5:// or socks5h://"),
        ("http://:3128", "no host"),
        ("http://p:0", "port 0"),
        ("http://p:99999", "out of range"),
        ("http://p:3128/path", "no path"),
        ("", "empty"),
    ],
)
def test_bad_proxy_url_names_the_problem(text: str, complaint: str) -> None:
    """A bad proxy URL is a ValueError that says what is wrong."""
    with pytest.raises(ValueError, match=complaint):
        parse_proxy_url(text)


def test_proxy_url_hides_credentials() -> None:
    """Neither str() nor repr() nor an error shows the proxy password."""
    proxy = parse_proxy_url("http://bob:pw-secret@p:3128")
    assert str(proxy) == "http://p:3128"
    assert "pw-secret" not in repr(proxy)
    with pytest.raises(ValueError, match="scheme 'ftp'") as info:
        parse_proxy_url("ftp://bob:pw-secret@p:21")
    assert "pw-secret" not in str(info.value)
    with pytest.raises(ValueError, match="no path") as info:
        WebSocket("ws://h/", proxy="http://bob:pw-secret@p:3128/x")
    assert "pw-secret" not in str(info.value)


# ---------------------------------------------------------------- the environment

WS = parse_url("ws://service.example/")
WSS = parse_url("wss://service.example/")


def chosen(url_env: dict[str, str], url: str = "ws://service.example/") -> str | None:
    """The proxy (as a string) and variable the environment ``url_env`` picks for ``url``."""
    found = proxy_from_environment(parse_url(url), url_env)
    return None if found is None else f"{found[0]} from {found[1]}"


@pytest.mark.parametrize(
    ("environ", "url", "expected"),
    [
        ({}, "ws://h/", None),
        ({"http_proxy": "p:1"}, "ws://h/", "http://p:1 from http_proxy"),
        ({"HTTP_PROXY": "p:2"}, "ws://h/", "http://p:2 from HTTP_PROXY"),
        ({"http_proxy": "p:1", "HTTP_PROXY": "p:2"}, "ws://h/", "http://p:1 from http_proxy"),
        ({"http_proxy": "p:1"}, "wss://h/", None),
        ({"https_proxy": "p:3"}, "wss://h/", "http://p:3 from https_proxy"),
        ({"HTTPS_PROXY": "p:4"}, "wss://h/", "http://p:4 from HTTPS_PROXY"),
        ({"https_proxy": "p:3"}, "ws://h/", None),
        ({"ALL_PROXY": "socks5h://p:5"}, "ws://h/", "socks5h://p:5 from ALL_PROXY"),
        ({"all_proxy": "socks5://p:6"}, "wss://h/", "socks5://p:6 from all_proxy"),
        ({"https_proxy": "p:3", "all_proxy": "p:6"}, "wss://h/", "http://p:3 from https_proxy"),
        ({"http_proxy": "", "all_proxy": "p:6"}, "ws://h/", "http://p:6 from all_proxy"),
        ({"HTTP_PROXY": "p:2", "REQUEST_METHOD": "GET"}, "ws://h/", None),
        ({"http_proxy": "p:1", "REQUEST_METHOD": "GET"}, "ws://h/", "http://p:1 from http_proxy"),
        ({"http_proxy": "p:1", "no_proxy": "h"}, "ws://h/", None),
        ({"http_proxy": "p:1", "NO_PROXY": "*"}, "ws://h/", None),
        ({"https_proxy": "p:3", "no_proxy": "other"}, "wss://h/", "http://p:3 from https_proxy"),
    ],
)
def test_environment_is_read_as_curl_does(
    environ: dict[str, str], url: str, expected: str | None
) -> None:
    """ws uses http_proxy, wss https_proxy, both fall back to all_proxy; lower case first."""
    assert chosen(environ, url) == expected


def test_bad_environment_proxy_names_the_variable() -> None:
    """An unusable proxy variable is a ValueError naming it, without its password."""
    with pytest.raises(ValueError, match=r"invalid \$HTTPS_PROXY") as info:
        proxy_from_environment(WSS, {"HTTPS_PROXY": "gopher://u:pw-secret@p:70"})
    assert "pw-secret" not in str(info.value)


@pytest.mark.parametrize(
    ("host", "no_proxy", "bypass"),
    [
        ("example.com", "example.com", True),
        ("www.example.com", "example.com", True),
        ("www.example.com", ".example.com", True),
        ("example.com", ".example.com", True),
        ("notexample.com", "example.com", False),
        ("example.com.org", "example.com", False),
        ("EXAMPLE.com", "example.COM", True),
        ("example.com.", "example.com", True),
        ("example.com", "example.com.", True),
        ("a.b.c", "x, y ,b.c", True),
        ("a.b.c", "x y b.c", True),
        ("anything", "*", True),
        ("anything", "x,*", True),
        ("anything", "", False),
        ("10.1.2.3", "10.0.0.0/8", True),
        ("11.1.2.3", "10.0.0.0/8", False),
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "localhost", False),
        ("::1", "::1", True),
        ("::1", "[::1]", True),
        ("fe80::1", "fe80::/10", True),
        ("2001:db8::1", "fe80::/10", False),
        ("10.1.2.3", "10.1", False),
        ("localhost", "127.0.0.1", False),
    ],
)
def test_no_proxy_matching(host: str, no_proxy: str, bypass: bool) -> None:
    """Names match themselves and subdomains; addresses match equal addresses and CIDR blocks."""
    assert bypasses_proxy(host, no_proxy) is bypass


# ---------------------------------------------------------------- through a real proxy


async def connect(url: str, **options: object) -> Opened:
    """open_connection() with ``options``, bounded by 10 seconds."""
    with trio.fail_after(10):
        return await open_connection(parse_url(url), ConnectOptions.build(**options))  # type: ignore[arg-type]


def tunnels_to(proxy: ProxyProcess, port: int, start: int) -> bool:
    """Whether the proxy's log shows a tunnel to 127.0.0.1:``port`` after line ``start``."""
    return proxy.wait_for(rf"-> 127\.0\.0\.1:{port}\b", start=start) is not None


def port_of(url: str) -> int:
    """The port of a ``ws(s)://127.0.0.1:PORT/`` URL."""
    match = re.search(r":(\d+)/", url)
    assert match is not None
    return int(match.group(1))


@pytest.mark.parametrize("scheme", ["http", "socks5", "socks5h"])
async def test_ws_through_proxy(echo_url: str, open_proxy: ProxyProcess, scheme: str) -> None:
    """ws:// goes through an HTTP CONNECT tunnel or SOCKS5, and messages flow."""
    start = len(open_proxy.lines)
    received = await echo_once(echo_url, "via proxy", proxy=open_proxy.url(scheme))
    assert received == ["via proxy"]
    assert tunnels_to(open_proxy, port_of(echo_url), start)


@pytest.mark.parametrize("scheme", ["http", "socks5"])
async def test_wss_through_proxy(
    tls_server: TLSServer, open_proxy: ProxyProcess, scheme: str
) -> None:
    """wss:// runs TLS inside the tunnel, verified against the server's name."""
    start = len(open_proxy.lines)
    received = await echo_once(
        tls_server.url,
        "tls via proxy",
        proxy=open_proxy.url(scheme),
        ssl_context=tls_server.client_context(),
    )
    assert received == ["tls via proxy"]
    assert tunnels_to(open_proxy, tls_server.port, start)


@pytest.mark.parametrize("scheme", ["http", "socks5"])
async def test_proxy_with_password(echo_url: str, auth_proxy: ProxyProcess, scheme: str) -> None:
    """Credentials in the proxy URL authenticate (Basic for HTTP, user/password for SOCKS5)."""
    received = await echo_once(
        echo_url, "authorized", proxy=auth_proxy.url(scheme, PROXY_CREDENTIALS)
    )
    assert received == ["authorized"]


async def test_proxy_refusing_with_407_is_connect_error(
    echo_url: str, auth_proxy: ProxyProcess
) -> None:
    """An HTTP proxy answering 407 ends in ConnectError saying so and what to do."""
    ws = WebSocket(echo_url, proxy=auth_proxy.url())
    rec = Recorder(ws)
    await run_to_end(ws, 10)
    error = rec.error
    assert type(error) is ConnectError
    assert f"proxy {auth_proxy.url()} refused the tunnel" in str(error)
    assert "HTTP 407" in str(error)
    assert "put them in the proxy URL" in str(error)
    assert echo_url in str(error)
    assert error.url == echo_url


async def test_proxy_refusing_credentials_hides_them(
    echo_url: str, auth_proxy: ProxyProcess
) -> None:
    """Wrong credentials: 407, and the password shows nowhere in the error."""
    proxy = auth_proxy.url("http", ("alice", "wrong-pw"))
    with pytest.raises(ConnectError, match=r"407.*refused the credentials") as info:
        await connect(echo_url, proxy=proxy)
    assert "wrong-pw" not in str(info.value)
    assert "alice" not in str(info.value)


async def test_socks5_refusing_credentials_is_connect_error(
    echo_url: str, auth_proxy: ProxyProcess
) -> None:
    """A SOCKS5 proxy refusing us ends in ConnectError naming it, without the password."""
    with pytest.raises(ConnectError, match=r"SOCKS5 proxy socks5://127\.0\.0\.1") as info:
        await connect(echo_url, proxy=auth_proxy.url("socks5", ("alice", "wrong-pw")))
    assert "wrong-pw" not in str(info.value)


async def test_connect_request_as_sent(raw_server: StartRawServer) -> None:
    """The CONNECT request names host:port in the target and Host, with Proxy-Authorization."""

    async def fake_proxy(conn: RawConnection) -> None:
        await conn.reject(407, headers=[("Proxy-Authenticate", 'Basic realm="x"')])

    proxy = await raw_server(fake_proxy)
    proxy_url = f"http://user:pa%3Ass@127.0.0.1:{proxy.port}"
    with pytest.raises(ConnectError, match="HTTP 407 Proxy Authentication Required"):
        await connect("wss://[::1]:8443/x", proxy=proxy_url)
    conn = proxy.connections[0]
    assert conn.request_line == "CONNECT [::1]:8443 HTTP/1.1"
    assert conn.header("Host") == "[::1]:8443"
    token = base64.b64encode(b"user:pa:ss").decode()
    assert conn.header("Proxy-Authorization") == f"Basic {token}"


async def test_proxy_not_listening_is_connect_error() -> None:
    """A proxy that cannot be reached: ConnectError naming the proxy and the URL."""
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        for scheme in ("http", "socks5"):
            with pytest.raises(ConnectError, match="refused") as info:
                await connect("ws://127.0.0.1:9/", proxy=f"{scheme}://127.0.0.1:{port}")
            assert f"{scheme}://127.0.0.1:{port}" in str(info.value)
            assert "ws://127.0.0.1:9/" in str(info.value)


async def test_proxy_that_cannot_reach_the_server(open_proxy: ProxyProcess) -> None:
    """The proxy cannot connect onward: ConnectError, through HTTP and SOCKS5 alike."""
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{sock.getsockname()[1]}/"
        # pproxy gives up on the onward connection by closing ours: with a FIN, or with a
        # reset when our request is still unread. Both must read as the proxy's doing.
        gave_up = r"(closed the connection|broke during the handshake: .*reset)"
        with pytest.raises(ConnectError, match=gave_up):
            await connect(url, proxy=open_proxy.url("http"))
        # pproxy grants the SOCKS5 request at once and closes when it cannot connect onward;
        # a proxy that waits answers "connection refused" instead. Either way the proxy is named.
        socks = open_proxy.url("socks5")
        with pytest.raises(ConnectError, match=gave_up) as info:
            await connect(url, proxy=socks)
        assert f"{url} through proxy {socks}" in str(info.value)


async def test_cancel_while_waiting_for_the_proxy(raw_server: StartRawServer) -> None:
    """Cancelled while the proxy sits on CONNECT: the socket to the proxy is closed."""
    proxy = await raw_server(lambda conn: conn.never_answer())
    with trio.move_on_after(0.3) as scope:
        await open_connection(
            parse_url("ws://127.0.0.1:9/"), ConnectOptions.build(proxy=f"http://{proxy.url[5:]}")
        )
    assert scope.cancelled_caught
    await proxy.wait_finished()  # the proxy saw EOF


# ---------------------------------------------------------------- the environment, for real


async def test_http_proxy_variable_is_used_for_ws(
    echo_url: str, open_proxy: ProxyProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With proxy left out, http_proxy carries ws:// connections."""
    monkeypatch.setenv("http_proxy", open_proxy.url())
    start = len(open_proxy.lines)
    assert await echo_once(echo_url, "env") == ["env"]
    assert tunnels_to(open_proxy, port_of(echo_url), start)


async def test_https_proxy_variable_is_used_for_wss(
    tls_server: TLSServer, open_proxy: ProxyProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS_PROXY carries wss:// connections; http_proxy pointing nowhere is not used."""
    monkeypatch.setenv("HTTPS_PROXY", open_proxy.url("socks5"))
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    start = len(open_proxy.lines)
    context = tls_server.client_context()
    assert await echo_once(tls_server.url, "env tls", ssl_context=context) == ["env tls"]
    assert tunnels_to(open_proxy, tls_server.port, start)


async def test_no_proxy_and_proxy_none_go_direct(
    echo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_PROXY listing the host, or proxy=None, connects directly (the proxy is dead)."""
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    assert await echo_once(echo_url, "direct", proxy=None) == ["direct"]
    monkeypatch.setenv("NO_PROXY", "localhost, 127.0.0.0/8")
    assert await echo_once(echo_url, "bypassed") == ["bypassed"]


async def test_explicit_proxy_ignores_no_proxy(
    echo_url: str, open_proxy: ProxyProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """proxy= given explicitly is used for every host, whatever NO_PROXY says."""
    monkeypatch.setenv("no_proxy", "*")
    start = len(open_proxy.lines)
    assert await echo_once(echo_url, "explicit", proxy=open_proxy.url()) == ["explicit"]
    assert tunnels_to(open_proxy, port_of(echo_url), start)


async def test_bad_proxy_variable_is_connect_error(
    echo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unusable proxy variable fails the attempt with ConnectError naming the variable."""
    monkeypatch.setenv("ALL_PROXY", "socks4://u:pw-secret@p:1080")
    with pytest.raises(ConnectError, match=r"invalid \$ALL_PROXY") as info:
        await connect(echo_url)
    assert "pw-secret" not in str(info.value)
    assert info.value.url == echo_url
