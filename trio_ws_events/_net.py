"""TCP and TLS for the handshake, each failure turned into a ``ConnectError`` that says why.

The TLS default is ``ssl.create_default_context``: the system's trust store, hostname
checking, SNI. A verification failure names the host and what was wrong with its certificate.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl

import trio

from ._errors import ConnectError

__all__ = ["default_ssl_context", "describe", "open_tcp", "receive", "send", "start_tls"]

#: Bytes asked of the socket per read during the handshake.
HANDSHAKE_READ_SIZE = 64 * 1024


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """The context used for ``wss://`` without ``ssl_context``: verified, system trust store.

    Made once: loading the trust store is slow, and a context may be shared by connections.
    """
    return ssl.create_default_context()


async def open_tcp(host: str, port: int, what: str, shown: str) -> trio.SocketStream:
    """Connect to ``host:port``; ``what`` prefixes ``shown`` in errors ("proxy X for ").

    Raises:
        ConnectError: the connection failed (refused, DNS, unreachable).
    """
    try:
        family = _literal_family(host)
        if family is None:
            return await trio.open_tcp_stream(host, port)
        return await _connect_literal(family, host, port)
    except OSError as exc:
        raise ConnectError(f"cannot connect to {what}{shown}: {describe(exc)}", url=shown) from exc


def _literal_family(host: str) -> socket.AddressFamily | None:
    """The address family of an IP literal, ``None`` for a name to resolve."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


async def _connect_literal(family: socket.AddressFamily, host: str, port: int) -> trio.SocketStream:
    # An IP literal has one address: no resolution and no happy-eyeballs race to run, so
    # no nursery and no task per attempt (what open_tcp_stream spends on a single address).
    sock = trio.socket.socket(family, socket.SOCK_STREAM)
    try:
        await sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)


async def start_tls(
    stream: trio.abc.Stream, host: str, context: ssl.SSLContext | None, shown: str
) -> trio.SSLStream[trio.abc.Stream]:
    """Run the TLS handshake over ``stream`` for ``host`` (SNI and certificate check).

    Cancellation: the caller closes ``stream`` on every failure, cancellation included.

    Raises:
        ConnectError: the handshake failed; certificate problems name the host.
    """
    try:
        tls = trio.SSLStream(
            stream, context or default_ssl_context(), server_hostname=host, https_compatible=True
        )
    except (ValueError, ssl.SSLError) as exc:  # a context unfit for clients, say
        raise ConnectError(f"cannot start TLS with {host} ({shown}): {exc}", url=shown) from exc
    try:
        await tls.do_handshake()
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        cause = exc.__cause__ or exc
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise ConnectError(
                f"TLS certificate verification failed for {host} ({shown}): "
                f"{cause.verify_message or cause.reason}; pass ssl_context= to trust it",
                url=shown,
            ) from cause
        raise ConnectError(
            f"TLS handshake with {host} failed ({shown}): {describe(cause)}", url=shown
        ) from cause
    return tls


async def send(stream: trio.abc.Stream, data: bytes, what: str, shown: str) -> None:
    """``send_all``, a broken connection reported as a ``ConnectError``."""
    try:
        await stream.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        raise ConnectError(
            f"connection to {what}{shown} broke during the handshake: {describe(exc)}", url=shown
        ) from exc


async def receive(stream: trio.abc.Stream, what: str, shown: str) -> bytes:
    """``receive_some``, a broken connection reported as a ``ConnectError``."""
    try:
        return bytes(await stream.receive_some(HANDSHAKE_READ_SIZE))
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        raise ConnectError(
            f"connection to {what}{shown} broke during the handshake: {describe(exc)}", url=shown
        ) from exc


def describe(exc: BaseException) -> str:
    """A short human reason for a network failure, e.g. ``Connection refused``."""
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    # open_tcp_stream tries every address and chains the failures as a group.
    cause = exc.__cause__
    if isinstance(cause, BaseExceptionGroup) and cause.exceptions:
        reasons = sorted({describe(inner) for inner in cause.exceptions})
        return f"{exc} ({'; '.join(reasons)})"
    if cause is not None and not str(exc):
        return describe(cause)
    text = str(exc)
    return text if text else type(exc).__name__
