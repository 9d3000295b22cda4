"""``https://`` proxies: TLS to the proxy, CONNECT inside it, then (for wss://) TLS to the server.

The proxy is ``peers/tls_proxy.py``, a trio one with a trustme certificate; the servers are
trio-websocket's echo (ws://) and the TLS echo of ``peers/tls_server.py`` (wss://).
"""

from __future__ import annotations

import base64
import logging
import ssl

import pytest
import trio
import trustme
from peers.tls_proxy import TLSProxy, serve_tls_proxy
from peers.tls_server import TLSServer
from recorder import Recorder, echo_once, run_to_end

from trio_ws_events import ConnectError, WebSocket

PASSWORD = "pr0xy-pw-77"


@pytest.fixture
async def tls_proxy(nursery: trio.Nursery, ca: trustme.CA) -> TLSProxy:
    """A TLS-terminating CONNECT proxy on 127.0.0.1 with a certificate from ``ca``."""
    proxy: TLSProxy = await nursery.start(serve_tls_proxy, ca)
    return proxy


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    """A default client context that also trusts ``ca``."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_ws_through_https_proxy(echo_url: str, tls_proxy: TLSProxy, ca: trustme.CA) -> None:
    """ws:// through an https:// proxy: TLS to the proxy, CONNECT inside, messages flow."""
    port = echo_url.rsplit(":", 1)[1].strip("/")
    received = await echo_once(
        echo_url, "via tls proxy", proxy=tls_proxy.url(), proxy_ssl_context=trusting(ca)
    )
    assert received == ["via tls proxy"]
    assert tls_proxy.requests[0].startswith(f"CONNECT 127.0.0.1:{port} HTTP/1.1")


async def test_wss_through_https_proxy_is_tls_inside_tls(
    tls_server: TLSServer, tls_proxy: TLSProxy, ca: trustme.CA
) -> None:
    """wss:// through an https:// proxy: the server's TLS session runs inside the proxy's."""
    received = await echo_once(
        tls_server.url,
        "tls in tls",
        proxy=tls_proxy.url(),
        proxy_ssl_context=trusting(ca),
        ssl_context=tls_server.client_context(),
    )
    assert received == ["tls in tls"]
    assert tls_proxy.requests[0].startswith(f"CONNECT 127.0.0.1:{tls_server.port} ")
    # The proxy saw one TLS handshake (its own); the server's went through the tunnel.
    assert len(tls_proxy.server_names) == 1


async def test_https_proxy_credentials_travel_inside_tls(
    echo_url: str, tls_proxy: TLSProxy, ca: trustme.CA
) -> None:
    """user:password@ of an https:// proxy URL is sent as Proxy-Authorization over its TLS."""
    proxy = tls_proxy.url(f"alice:{PASSWORD}")
    received = await echo_once(echo_url, "hi", proxy=proxy, proxy_ssl_context=trusting(ca))
    assert received == ["hi"]
    token = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert f"Proxy-Authorization: Basic {token}" in tls_proxy.requests[0]


async def test_https_proxy_with_untrusted_certificate_is_refused(
    echo_url: str, tls_proxy: TLSProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """A proxy certificate that fails verification: ConnectError naming the proxy, no password."""
    caplog.set_level(logging.DEBUG, logger="trio_ws_events")
    ws = WebSocket(echo_url, proxy=tls_proxy.url(f"alice:{PASSWORD}"))  # default trust store
    rec = Recorder(ws)
    await run_to_end(ws)
    error = rec.error
    assert isinstance(error, ConnectError)
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)
    message = str(error)
    assert f"TLS certificate verification failed for proxy {tls_proxy.url()}" in message
    assert "pass proxy_ssl_context= to trust it" in message
    assert echo_url in message
    for text in (message, repr(error), caplog.text):
        assert PASSWORD not in text
    assert tls_proxy.requests == []


async def test_https_proxy_from_the_environment(
    echo_url: str, tls_proxy: TLSProxy, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$http_proxy may name an https:// proxy; proxy_ssl_context= still applies to it."""
    for name in ("no_proxy", "NO_PROXY", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", tls_proxy.url())
    received = await echo_once(echo_url, "env", proxy_ssl_context=trusting(ca))
    assert received == ["env"]
    assert len(tls_proxy.requests) == 1


def test_proxy_ssl_context_must_be_a_context() -> None:
    """proxy_ssl_context= is an ssl.SSLContext or None, checked at construction."""
    with pytest.raises(TypeError, match=r"proxy_ssl_context must be an ssl\.SSLContext or None"):
        WebSocket("ws://h/", proxy_ssl_context="certs.pem")  # type: ignore[arg-type]
