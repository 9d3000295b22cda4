"""Opening a WebSocket as an HTTP/2 stream of a pool (RFC 8441), or saying to use HTTP/1.1.

The seam ``open_connection`` calls first when ``http2=`` was given: it returns the same
``Opened`` the HTTP/1.1 upgrade returns (the stream, subprotocol, extension answer, response
headers), so the driver above runs unchanged over the HTTP/2 stream; or ``None``, and the
HTTP/1.1 upgrade runs on a fresh connection.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import trio

from .._errors import ConnectError, HandshakeRejected
from .._options import DEFAULT
from .hook import HandshakeRequest, run_hook
from .proxy import proxy_from_environment

if TYPE_CHECKING:
    from .._h2 import H2Pool, H2WebSocketStream
    from .._options import ConnectOptions
    from .._sansio.url import WebSocketURL
    from .connect import Opened

__all__ = ["open_over_http2"]


def _h2_applies(pool: H2Pool, url: WebSocketURL, options: ConnectOptions) -> bool:
    """Whether this attempt may go over HTTP/2: no given stream, no proxy, an origin the pool
    may carry (``ws://`` only with h2c)."""
    if options.open_stream is not None:
        return False
    if options.proxy is DEFAULT and not _no_env_proxy(url):
        return False
    return options.proxy in (None, DEFAULT) and pool.may_carry(str(url))


def _no_env_proxy(url: WebSocketURL) -> bool:
    # proxy=DEFAULT: a proxy the environment names for this URL wins over HTTP/2, and an
    # unusable one is the HTTP/1.1 path's to report.
    try:
        return proxy_from_environment(url, os.environ) is None
    except ValueError:
        return False


async def open_over_http2(
    url: WebSocketURL, options: ConnectOptions, where: str, headers: list[tuple[str, str]]
) -> Opened | None:
    """Open ``url`` as an extended CONNECT stream of ``options.http2``, or ``None`` for
    HTTP/1.1 (no pool, not applicable, or the origin has no HTTP/2 WebSockets).

    Args:
        url: the WebSocket URL (no redirect is followed over HTTP/2).
        options: the checked connection options; ``options.http2`` is the pool.
        where: the URL as error messages name it.
        headers: ``Origin``, ``User-Agent``, ``Authorization`` and the user's, before the hook.

    Raises:
        HandshakeRejected: the server answered another status than 200 (a redirect too).
        ConnectError: the connection or the stream failed, the hook failed or returned a
            header HTTP/2 cannot carry, or the pool is closed.

    Cancellation: safe; the pool resets a stream being opened and closes a connection being
    made; the pool's own connections live on in its nursery.
    """
    from .connect import Opened  # here: connect imports this module

    pool = options.http2
    if pool is None or not _h2_applies(pool, url, options):
        return None
    if options.handshake_hook is not None:
        headers = await run_hook(
            options.handshake_hook, HandshakeRequest(str(url), headers, 0), where
        )
    stream = await _open_stream(pool, url, options, where, headers)
    if stream is None:
        return None
    return Opened(
        stream,
        subprotocol=stream.subprotocol,
        extensions=stream.extensions,
        headers=list(stream.response_headers),
        trailing=b"",
        url=url,
    )


async def _open_stream(
    pool: H2Pool,
    url: WebSocketURL,
    options: ConnectOptions,
    where: str,
    headers: list[tuple[str, str]],
) -> H2WebSocketStream | None:
    """The pool's extended CONNECT, its failures named after ``where``; ``None`` for
    HTTP/1.1 (the origin has no HTTP/2 WebSockets)."""
    from .._h2 import Http2Unavailable  # here: h2 is imported once a pool exists

    origin = next((v for n, v in headers if n.lower() == "origin"), None)
    extra = [(n, v) for n, v in headers if n.lower() != "origin"]
    options.logger.debug("opening %s over HTTP/2", url.for_log)
    try:
        stream = await pool.open_websocket(
            str(url),
            subprotocols=options.protocols,
            extensions=options.extensions,
            origin=origin,
            headers=extra,
        )
    except Http2Unavailable as exc:
        options.logger.debug("%s: %s; using HTTP/1.1", url.for_log, exc.message)
        return None
    except HandshakeRejected as exc:
        raise HandshakeRejected(
            f"{where} rejected the WebSocket handshake (HTTP/2 extended CONNECT) with "
            f"HTTP {exc.status}",
            status=exc.status,
            headers=exc.headers,
            body=exc.body,
        ) from None
    except ConnectError as exc:
        raise ConnectError(f"cannot open {where} over HTTP/2: {exc.message}") from exc
    except ValueError as exc:
        raise ConnectError(f"cannot write the extended CONNECT for {where}: {exc}") from None
    except trio.ClosedResourceError:
        raise ConnectError(f"cannot open {where} over HTTP/2: the pool is closed") from None
    return stream
