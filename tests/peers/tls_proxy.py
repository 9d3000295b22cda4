"""An ``https://`` proxy for the tests: TLS to the proxy itself, then ``CONNECT``, then a splice.

``proxy = await nursery.start(serve_tls_proxy, ca)`` listens on a free port of 127.0.0.1 with a
certificate that ``ca`` issued for ``127.0.0.1`` and ``localhost`` (or the names given). Each
client's TLS session is accepted, its ``CONNECT host:port`` request head read and recorded, and
(only for a 127.0.0.1 target) answered ``200`` and spliced both ways to a TCP connection to the
target. Whatever the client sends inside the tunnel (a WebSocket handshake, a second TLS session
for ``wss://``) passes through untouched.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence

import trio
import trustme

__all__ = ["TLSProxy", "serve_tls_proxy"]

_MAX_HEAD = 64 * 1024


class TLSProxy:
    """A running TLS-terminating proxy, as reported by :func:`serve_tls_proxy`.

    Attributes:
        port: the port it listens on, on 127.0.0.1.
        requests: the request head (``CONNECT`` line and headers, as text) of each tunnel.
        server_names: the SNI name of each TLS handshake with the proxy.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: list[str] = []
        self.server_names: list[str | None] = []

    def url(self, credentials: str = "") -> str:
        """``https://[credentials@]127.0.0.1:PORT``."""
        return f"https://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}"


async def serve_tls_proxy(
    ca: trustme.CA,
    identities: Sequence[str] = ("127.0.0.1", "localhost"),
    *,
    task_status: trio.TaskStatus[TLSProxy] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; report a :class:`TLSProxy` once listening."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*identities).configure_cert(context)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    proxy = TLSProxy(listeners[0].socket.getsockname()[1])

    def note_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        proxy.server_names.append(name)

    context.sni_callback = note_sni

    async def handle(tcp: trio.SocketStream) -> None:
        tls = trio.SSLStream(tcp, context, server_side=True)
        try:
            await _tunnel(tls, proxy)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client gave up (e.g. it refused our certificate)
        finally:
            await trio.aclose_forcefully(tls)

    task_status.started(proxy)
    await trio.serve_listeners(handle, listeners)


async def _tunnel(tls: trio.SSLStream[trio.SocketStream], proxy: TLSProxy) -> None:
    head = b""
    while b"\r\n\r\n" not in head:
        data = await tls.receive_some()
        if not data or len(head) > _MAX_HEAD:
            return
        head += data
    text, _, rest = head.partition(b"\r\n\r\n")
    proxy.requests.append(text.decode("latin-1"))
    method, target, _ = text.split(b"\r\n")[0].decode("latin-1").split(" ", 2)
    host, _, port = target.rpartition(":")
    if method != "CONNECT" or host != "127.0.0.1":
        await tls.send_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        return
    upstream = await trio.open_tcp_stream(host, int(port))
    async with upstream:
        await tls.send_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            await upstream.send_all(rest)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_pump, tls, upstream, nursery.cancel_scope)
            nursery.start_soon(_pump, upstream, tls, nursery.cancel_scope)


async def _pump(source: trio.abc.Stream, sink: trio.abc.Stream, scope: trio.CancelScope) -> None:
    """Copy until either side ends; then end the other direction too."""
    try:
        while data := await source.receive_some():
            await sink.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    scope.cancel()
