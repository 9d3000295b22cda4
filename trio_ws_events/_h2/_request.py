"""The extended CONNECT of RFC 8441 as headers in and facts out: no I/O, no trio."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

from .._sansio.handshake import MAX_REJECT_BODY

__all__ = ["MAX_REJECT_BODY", "Accepted", "Rejected", "connect_headers", "read_response"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

#: Headers a caller may not set: HTTP/2 forbids the connection-specific ones (RFC 9113
#: 8.2.2) and the extended CONNECT writes the WebSocket ones itself.
_RESERVED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "te",
        "host",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
        "origin",
    }
)


@dataclasses.dataclass(frozen=True, slots=True)
class Accepted:
    """A ``200`` to the extended CONNECT: the stream now carries WebSocket frames.

    Attributes:
        subprotocol: the ``sec-websocket-protocol`` the server chose, or ``None``.
        extensions: the ``sec-websocket-extensions`` the server answered, or ``None``;
            negotiating them (permessage-deflate) is the caller's, as over HTTP/1.1.
        headers: every response header as ``(name, value)`` pairs of ``str``, in order.
    """

    subprotocol: str | None
    extensions: str | None
    headers: list[tuple[str, str]]


@dataclasses.dataclass(frozen=True, slots=True)
class Rejected:
    """Any other status: the facts ``HandshakeRejected`` carries.

    Attributes:
        status: the ``:status`` of the response.
        headers: the response headers as ``(name, value)`` pairs of ``str``, in order.
        body: at most ``MAX_REJECT_BODY`` bytes of the body.
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def connect_headers(
    *,
    scheme: str,
    authority: str,
    path: str,
    subprotocols: Sequence[str] = (),
    extensions: str | None = None,
    origin: str | None = None,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """The header block of the extended CONNECT (RFC 8441 section 4 and 5).

    Args:
        scheme: ``"https"`` or ``"http"`` (the ``:scheme`` of ``wss://`` and ``ws://``).
        authority: ``host:port`` as the ``:authority``.
        path: the request target, ``/`` at least.
        subprotocols: offered in ``sec-websocket-protocol``, in order of preference.
        extensions: the ``sec-websocket-extensions`` offer, e.g. permessage-deflate's.
        origin: the ``origin`` header, if any.
        extra_headers: the caller's own headers, names in any case.

    Returns:
        The headers as ``(name, value)`` pairs, pseudo-headers first, names in lower case.

    Raises:
        ValueError: a header the extended CONNECT writes itself or HTTP/2 forbids, a name
            or value that is not a valid header field, or a subprotocol that is no token.
    """
    if scheme not in ("https", "http"):
        raise ValueError(f"scheme must be 'https' or 'http', not {scheme!r}")
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', got {path!r}")
    headers = [
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", scheme),
        (":path", path),
        (":authority", authority),
        ("sec-websocket-version", "13"),
    ]
    for name in subprotocols:
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"subprotocol {name!r} is not an HTTP token (RFC 6455 4.1)")
    if subprotocols:
        headers.append(("sec-websocket-protocol", ", ".join(subprotocols)))
    if extensions:
        headers.append(("sec-websocket-extensions", extensions))
    if origin is not None:
        headers.append(("origin", origin))
    for name, value in extra_headers:
        lowered = name.lower()
        if lowered in _RESERVED or lowered.startswith(":"):
            raise ValueError(f"header {name!r} is set by the extended CONNECT, not by the caller")
        bad_name = not lowered or any(c in lowered for c in " \t\r\n:")
        if bad_name or any(c in value for c in "\r\n\0"):
            raise ValueError(f"header {name!r} is not a valid header field")
        headers.append((lowered, value))
    return headers


def read_response(
    headers: Iterable[tuple[str, str]], offered: Sequence[str], body: bytes = b""
) -> Accepted | Rejected:
    """What a response to the extended CONNECT means.

    Args:
        headers: the response header block, ``:status`` included.
        offered: the subprotocols the request offered.
        body: the body received so far (only kept for a rejection, cut to the bound).

    Returns:
        ``Accepted`` for ``200`` whose subprotocol was offered, else ``Rejected``.

    Raises:
        ValueError: no ``:status``, or a ``200`` choosing a subprotocol never offered.
    """
    pairs = list(headers)
    status = next((v for n, v in pairs if n == ":status"), None)
    if status is None or not status.isdigit():
        raise ValueError(f"response has no valid :status ({status!r})")
    plain = [(n, v) for n, v in pairs if not n.startswith(":")]
    if int(status) != 200:
        return Rejected(int(status), plain, body[:MAX_REJECT_BODY])
    chosen = [v.strip() for n, v in plain if n == "sec-websocket-protocol"]
    subprotocol = chosen[0] if chosen else None
    if len(chosen) > 1 or (subprotocol is not None and subprotocol not in offered):
        raise ValueError(f"server chose subprotocol {', '.join(chosen)!r}, which was not offered")
    found = [v for n, v in plain if n == "sec-websocket-extensions"]
    return Accepted(subprotocol, ", ".join(found) if found else None, plain)
