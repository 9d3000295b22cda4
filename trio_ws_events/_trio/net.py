"""TCP and TLS for the handshake, each failure turned into a ``ConnectError`` that says why.

The TLS default is ``ssl.create_default_context``: the system's trust store, hostname
checking, SNI. A verification failure names the host and what was wrong with its certificate.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import os
import socket
import ssl
from collections.abc import Callable
from typing import Final, Protocol

import trio

from .._errors import ConnectError, map_exceptions
from .._typing import Address
from .busypoll import writable_now

__all__ = [
    "SendsAll",
    "default_ssl_context",
    "describe",
    "open_tcp",
    "receive",
    "send",
    "start_tls",
    "stream_addresses",
]

#: Bytes asked of the socket per read during the handshake.
HANDSHAKE_READ_SIZE = 64 * 1024
#: What a trio stream raises when the connection under it broke or was closed.
_STREAM_ERRORS: Final = (trio.BrokenResourceError, trio.ClosedResourceError)


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

    def refused(exc: Exception) -> ConnectError:
        return ConnectError(f"cannot connect to {what}{shown}: {describe(exc)}", url=shown)

    with map_exceptions({OSError: refused}):
        family = _literal_family(host)
        if family is None:
            return await trio.open_tcp_stream(host, port)
        return await _connect_literal(family, host, port)


#: A socket made non-blocking by ``socket()`` itself, where the OS can: one ``ioctl`` less.
_NONBLOCK: Final = getattr(socket, "SOCK_NONBLOCK", 0)


@functools.lru_cache(maxsize=64)
def _literal_family(host: str) -> socket.AddressFamily | None:
    """The address family of an IP literal, ``None`` for a name to resolve (remembered for
    64 hosts: ``ipaddress`` took 8 us of each W4 handshake, issue 18)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


async def _connect_literal(family: socket.AddressFamily, host: str, port: int) -> trio.SocketStream:
    # An IP literal has one address: no resolution and no happy-eyeballs race to run, so
    # no nursery and no task per attempt (what open_tcp_stream spends on a single address),
    # and the connect is the kernel's own: trio's SocketType.connect resolves the address
    # again first (issue 18: 9 us of each W4 handshake). The error reads as trio's.
    # Cancellation is checked first; the scheduler pass comes with the answer's read: on
    # loopback the kernel completes the connect within connect_ex, and a wait for
    # writability would cost an epoll registration and a pass for nothing (issue 18, W4).
    await trio.lowlevel.checkpoint_if_cancelled()
    sock = socket.socket(family, socket.SOCK_STREAM | _NONBLOCK)
    try:
        if not _NONBLOCK:
            sock.setblocking(False)
        err = sock.connect_ex((host, port))
        if err == errno.EINPROGRESS:
            if not writable_now(sock.fileno()):
                await trio.lowlevel.wait_writable(sock)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, f"Error connecting to {(host, port)!r}: {os.strerror(err)}")
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(trio.socket.from_stdlib_socket(sock))


#: OpenSSL's reasons for a handshake answered by something that is not TLS (plain HTTP).
_NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"}
)


async def start_tls(
    stream: trio.abc.Stream,
    host: str,
    context: ssl.SSLContext | None,
    shown: str,
    *,
    peer: str = "server",
    option: str = "ssl_context",
) -> trio.SSLStream[trio.abc.Stream]:
    """Run the TLS handshake over ``stream`` for ``host`` (SNI and certificate check).

    Args:
        stream: the connection to run TLS over (TCP, a tunnel, or TLS to a proxy).
        host: the name sent as SNI and checked against the certificate.
        context: the client context; ``None`` for ``default_ssl_context``.
        shown: the URL for messages, without credentials.
        peer: what ``host`` is, for messages: ``"server"`` or ``"proxy http://p:3128"``.
        option: the option that takes a context, named in the hint of a failed check.

    Cancellation: the caller closes ``stream`` on every failure, cancellation included.

    Raises:
        ConnectError: the handshake failed; certificate problems name the host.
    """
    who = host if peer == "server" else peer  # a proxy's URL names its host already

    def unfit(exc: Exception) -> ConnectError:  # a context unfit for clients, say
        return ConnectError(f"cannot start TLS with {who} ({shown}): {exc}", url=shown)

    def failed(exc: Exception) -> ConnectError:
        cause = exc.__cause__ or exc
        if isinstance(cause, ssl.SSLCertVerificationError):
            message = (
                f"TLS certificate verification failed for {who} ({shown}): "
                f"{cause.verify_message or cause.reason}; pass {option}= to trust it"
            )
        else:
            hint = ""
            if isinstance(cause, ssl.SSLError) and cause.reason in _NOT_TLS_REASONS:
                hint = f"; is the {peer.split()[0]} speaking TLS on this port?"
            message = f"TLS handshake with {who} failed ({shown}): {describe(cause)}{hint}"
        error = ConnectError(message, url=shown)
        error.__cause__ = cause
        return error

    with map_exceptions({(ValueError, ssl.SSLError): unfit}):
        tls = trio.SSLStream(
            stream, context or default_ssl_context(), server_hostname=host, https_compatible=True
        )
    with map_exceptions({_STREAM_ERRORS: failed}):
        await tls.do_handshake()
    return tls


class SendsAll(Protocol):
    """A ``trio.abc.SendStream``, or ``writer.Writer`` (one direct ``write(2)`` first)."""

    async def send_all(self, data: bytes) -> None: ...


async def send(stream: SendsAll, data: bytes, what: str, shown: str) -> None:
    """``send_all``, a broken connection reported as a ``ConnectError``."""
    with map_exceptions({_STREAM_ERRORS: _broke(what, shown)}):
        await stream.send_all(data)


class ReceivesSome(Protocol):
    """A ``trio.abc.ReceiveStream``, or ``reading.Reads`` (``read(2)`` on a plain socket)."""

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray: ...


async def receive(stream: ReceivesSome, what: str, shown: str) -> bytes:
    """``receive_some``, a broken connection reported as a ``ConnectError``."""
    with map_exceptions({_STREAM_ERRORS: _broke(what, shown)}):
        return bytes(await stream.receive_some(HANDSHAKE_READ_SIZE))


def _broke(what: str, shown: str) -> Callable[[Exception], ConnectError]:
    def build(exc: Exception) -> ConnectError:
        message = f"connection to {what}{shown} broke during the handshake: {describe(exc)}"
        return ConnectError(message, url=shown)

    return build


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


def stream_addresses(stream: trio.abc.Stream) -> tuple[Address, Address] | None:
    """The ``(host, port)`` of both ends of the TCP socket under ``stream``: local, remote.

    TLS layers are looked through. Through a proxy, the socket's peer is the proxy. ``None``
    when there is no socket under ``stream`` (a test's memory stream), it is closed, or it
    is a unix socket.
    """
    while not isinstance(stream, trio.SocketStream):
        inner = getattr(stream, "transport_stream", None)
        if not isinstance(inner, trio.abc.Stream):
            return None
        stream = inner
    try:
        local, remote = stream.socket.getsockname(), stream.socket.getpeername()
    except OSError:
        return None
    if not isinstance(local, tuple) or not isinstance(remote, tuple):
        return None  # a unix socket: its addresses are paths, not (host, port)
    # IPv6 names carry flow info and scope id too; (host, port) is what callers compare.
    return (str(local[0]), int(local[1])), (str(remote[0]), int(remote[1]))
