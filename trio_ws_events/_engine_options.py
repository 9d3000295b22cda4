"""What an engine or a transport of one's own cannot be combined with, refused at once: no I/O."""

from __future__ import annotations

import dataclasses
import os
from typing import Final

from ._connect_options import DEFAULT, ConnectOptions
from ._sansio.compression import Compression
from ._sansio.url import WebSocketURL
from ._trio.proxy import ProxyURL

__all__ = ["ENGINES", "check_engine", "check_engine_close_code", "check_transport"]


#: The engines ``engine=`` accepts.
ENGINES: Final = ("default", "trio-websocket")


def check_engine(engine: object) -> str:
    """``engine=`` checked: one of ``ENGINES``."""
    if not isinstance(engine, str):
        raise TypeError(f"engine must be a str, got {type(engine).__name__}")
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r} is unknown; use 'default' or 'trio-websocket'")
    return engine


def check_transport(
    url: WebSocketURL,
    connect: ConnectOptions,
    engine: str,
    compression: Compression | None,
    max_fragment: int | None,
    unix_socket: object,
    stream_factory: object,
) -> ConnectOptions:
    """``connect`` with the transport of ``unix_socket=``/``stream_factory=``, checked against
    the other options and against ``engine``.

    Raises:
        TypeError, ValueError: the option is invalid, or conflicts with another or the engine.
    """
    connect = _with_transport(connect, unix_socket, stream_factory)
    if engine == "trio-websocket":
        _check_trio_websocket(
            url,
            connect,
            compression,
            max_fragment,
            unix_socket=unix_socket,
            stream_factory=stream_factory,
        )
    return connect


def _with_transport(
    connect: ConnectOptions, unix_socket: object, stream_factory: object
) -> ConnectOptions:
    """``connect`` with the opener of ``unix_socket=`` or ``stream_factory=``, if given.

    Raises:
        TypeError, ValueError: the option is invalid, or conflicts with another.
    """
    from ._trio.transports import check_unix_socket, factory_opener, unix_opener

    if unix_socket is None and stream_factory is None:
        return connect
    given = "unix_socket" if unix_socket is not None else "stream_factory"
    if unix_socket is not None and stream_factory is not None:
        raise ValueError("give either unix_socket= or stream_factory=, not both")
    if connect.proxy is not None and connect.proxy is not DEFAULT:
        raise ValueError(
            f"{given}= cannot be combined with proxy=: the stream goes where {given} says; "
            "drop the proxy, or open the tunnel in a stream_factory"
        )
    if connect.proxy_ssl_context is not None:
        raise ValueError(f"{given}= cannot be combined with proxy_ssl_context= (no proxy)")
    if connect.http2 is not None:
        raise ValueError(
            f"{given}= cannot be combined with http2=: the pool opens its own connections"
        )
    context, name = connect.ssl_context, connect.server_hostname
    if stream_factory is not None:
        if not callable(stream_factory):
            raise TypeError(
                "stream_factory must be a callable taking the URL and returning a "
                f"trio.abc.Stream (or an awaitable of one), got {type(stream_factory).__name__}"
            )
        opener = factory_opener(stream_factory, context, name)
    else:
        opener = unix_opener(check_unix_socket(unix_socket), context, name)
    # The environment's proxies are for TCP: a stream of the user's own never goes through one.
    return dataclasses.replace(connect, proxy=None, open_stream=opener)


#: The options the trio-websocket engine cannot honour, with what to do instead.
_NOT_WITH_TRIO_WEBSOCKET: Final = {
    "unix_socket": "it connects over TCP only; use the default engine",
    "stream_factory": "it connects over TCP only; use the default engine",
    "compression": "trio-websocket has no permessage-deflate; leave compression out or None",
    "max_fragment_size": "trio-websocket sends each message as one frame",
    "proxy": "trio-websocket connects directly; use proxy=None or the default engine",
    "proxy_ssl_context": "trio-websocket connects directly (no proxy)",
    "max_redirects": "trio-websocket follows no redirects; leave max_redirects out",
    "handshake_hook": "trio-websocket builds the request itself",
    "server_hostname": "trio-websocket sends the URL's host as SNI",
    "http2": "trio-websocket speaks HTTP/1.1 only; use the default engine",
}


def _check_trio_websocket(
    url: WebSocketURL,
    connect: ConnectOptions,
    compression: Compression | None,
    max_fragment: int | None,
    *,
    unix_socket: object,
    stream_factory: object,
) -> None:
    """Refuse, naming the engine and the option, what ``engine="trio-websocket"`` cannot do.

    Raises:
        ValueError: an option that engine cannot honour was given.
    """
    from ._trio.proxy import proxy_from_environment

    given = {
        "unix_socket": unix_socket is not None,
        "stream_factory": stream_factory is not None,
        "compression": compression is not None,
        "max_fragment_size": max_fragment is not None,
        "proxy": isinstance(connect.proxy, ProxyURL),
        "proxy_ssl_context": connect.proxy_ssl_context is not None,
        "max_redirects": connect.max_redirects != 10,
        "handshake_hook": connect.handshake_hook is not None,
        "server_hostname": connect.server_hostname is not None,
        "http2": connect.http2 is not None,
    }
    for option, used in given.items():
        if used:
            raise ValueError(
                f"engine='trio-websocket' cannot honour {option}=: "
                f"{_NOT_WITH_TRIO_WEBSOCKET[option]}"
            )
    if connect.proxy is DEFAULT and proxy_from_environment(url, os.environ) is not None:
        raise ValueError(
            f"engine='trio-websocket' cannot honour the proxy the environment names for {url}: "
            "it connects directly; pass proxy=None to connect directly, or use the default engine"
        )


def check_engine_close_code(engine: str, code: int) -> None:
    """Refuse a close code ``engine`` cannot send (``code`` passed ``check_close_args``).

    Raises:
        ValueError: 1014 with the trio-websocket engine: wsproto rejects it in a close frame
            it receives, so the peer's echo would end the connection as a protocol error.
    """
    if code == 1014 and engine == "trio-websocket":
        raise ValueError(
            "engine='trio-websocket' cannot honour close code 1014: wsproto does not know it, "
            "so the peer's echo would fail as a protocol error; use 1011 or 1013"
        )
