"""The user's own transports: a unix socket, or any stream a factory opens, per attempt.

Each builds the ``ConnectOptions.open_stream`` opener the handshake runs over (see
``connect._open_stream``); ``wss://`` runs TLS over the stream the opener got.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Awaitable, Callable

import trio

from .._errors import ConnectError
from .._handlers import must_await
from .._sansio.url import WebSocketURL
from .net import start_tls

__all__ = ["StreamFactory", "check_unix_socket", "factory_opener", "unix_opener"]

#: Opens the byte stream for one attempt; called with the URL of that attempt (a redirect's
#: target on a redirect), sync or async.
StreamFactory = Callable[[str], "trio.abc.Stream | Awaitable[trio.abc.Stream]"]
Opener = Callable[[WebSocketURL], Awaitable[trio.abc.Stream]]


def unix_opener(
    path: str, ssl_context: ssl.SSLContext | None, server_hostname: str | None
) -> Opener:
    """An opener that connects to the unix socket at ``path`` for every attempt."""

    async def open_unix(url: WebSocketURL) -> trio.abc.Stream:
        try:
            stream: trio.abc.Stream = await trio.open_unix_socket(path)
        except OSError as exc:
            raise ConnectError(
                f"cannot connect to {url} over unix socket {path!r}: {exc.strerror or exc}"
            ) from exc
        return await _secure(stream, url, ssl_context, server_hostname)

    return open_unix


def factory_opener(
    factory: StreamFactory, ssl_context: ssl.SSLContext | None, server_hostname: str | None
) -> Opener:
    """An opener that calls ``factory(url)`` once per attempt for the stream to run over."""

    async def open_given(url: WebSocketURL) -> trio.abc.Stream:
        name = getattr(factory, "__qualname__", repr(factory))
        try:
            result: object = factory(str(url))
            if must_await(result):
                result = await result
        except Exception as exc:
            raise ConnectError(
                f"cannot connect to {url}: stream_factory {name} raised {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(result, trio.abc.Stream):
            raise ConnectError(
                f"cannot connect to {url}: stream_factory {name} returned a "
                f"{type(result).__name__}, not a trio.abc.Stream"
            )
        return await _secure(result, url, ssl_context, server_hostname)

    return open_given


async def _secure(
    stream: trio.abc.Stream,
    url: WebSocketURL,
    ssl_context: ssl.SSLContext | None,
    server_hostname: str | None,
) -> trio.abc.Stream:
    """``stream`` as it is for ``ws://``; TLS over it for ``wss://`` (closed if TLS fails)."""
    if not url.secure:
        return stream
    try:
        return await start_tls(stream, server_hostname or url.host, ssl_context, str(url))
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise


def check_unix_socket(path: object) -> str:
    """``unix_socket=`` checked: a path as ``str``.

    Raises:
        TypeError: not a ``str`` or ``os.PathLike``.
        ValueError: empty.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"unix_socket must be a str or os.PathLike path, got {type(path).__name__}")
    text = os.fsdecode(path)
    if not text:
        raise ValueError("unix_socket must be a non-empty path to a unix socket")
    return text
