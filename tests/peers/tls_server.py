"""A ``wss://`` echo server for the TLS tests: trio-websocket over TLS with a trustme certificate.

``server = await nursery.start(serve_tls_echo, ca)`` listens on a free port of 127.0.0.1 with a
certificate that ``ca`` issued for ``127.0.0.1``, ``localhost`` and ``ws.test`` (or the names
given). It records the SNI name of each TLS handshake, and answers every upgrade with a 301 to
``server.redirect_to`` while that is set.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence

import trio
import trustme
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

__all__ = ["TLSServer", "serve_tls_echo"]

#: The names the default certificate is issued for.
DEFAULT_IDENTITIES = ("127.0.0.1", "localhost", "ws.test")


class TLSServer:
    """A running TLS echo server, as reported by :func:`serve_tls_echo`.

    Attributes:
        port: the port it listens on, on 127.0.0.1.
        ca: the certificate authority that issued its certificate.
        server_names: the SNI name sent by each client, in order (``None`` when none was).
        redirect_to: when set, every upgrade is answered ``301`` with this ``Location``.
    """

    def __init__(self, port: int, ca: trustme.CA) -> None:
        self.port = port
        self.ca = ca
        self.server_names: list[str | None] = []
        self.redirect_to: str | None = None

    @property
    def url(self) -> str:
        """``wss://127.0.0.1:PORT/``."""
        return f"wss://127.0.0.1:{self.port}/"

    def client_context(self) -> ssl.SSLContext:
        """A default client context that also trusts :attr:`ca`."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


async def serve_tls_echo(
    ca: trustme.CA,
    identities: Sequence[str] = DEFAULT_IDENTITIES,
    *,
    task_status: trio.TaskStatus[TLSServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the TLS echo until cancelled; report a :class:`TLSServer` once listening."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*identities).configure_cert(context)
    server: TLSServer | None = None

    def note_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        assert server is not None
        server.server_names.append(name)

    context.sni_callback = note_sni

    async def handler(request: WebSocketRequest) -> None:
        assert server is not None
        if server.redirect_to is not None:
            location = server.redirect_to.encode("ascii")
            await request.reject(301, extra_headers=[(b"Location", location)])
            return
        ws = await request.accept()
        try:
            while True:
                await ws.send_message(await ws.get_message())
        except ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        websocket_server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, context)
        server = TLSServer(websocket_server.port, ca)
        task_status.started(server)
