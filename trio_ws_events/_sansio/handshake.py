"""The client side of the opening handshake (RFC 6455 section 4.1), sans I/O.

``ClientHandshake`` writes the ``GET`` upgrade request and reads the answer fed to it;
the caller moves the bytes. The answer is either ``Accepted`` (a valid ``101``, with
the bytes that followed it: the first WebSocket frames) or ``Rejected`` (any other final
status, with at most ``MAX_REJECT_BODY`` bytes of its body). A ``101`` that breaks the
rules raises ``HandshakeError``. A ``101`` whose head arrives whole in the first read,
written the plain way (``_plain_101``), is read here; every other answer is read by h11.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Iterable, Sequence
from typing import Final

import h11

from .entropy import random_bytes
from .frames import accept_token

__all__ = [
    "MAX_REJECT_BODY",
    "Accepted",
    "ClientHandshake",
    "HandshakeError",
    "Rejected",
]

#: How much of a rejection's body is kept.
MAX_REJECT_BODY: Final = 64 * 1024
#: The largest response head accepted (status line and headers).
MAX_RESPONSE_HEAD: Final = 64 * 1024


#: What h11 is told was sent (``ClientHandshake.request`` writes the real one): the same
#: method and the same upgrade proposal, so h11 reads the answer as it would read the real
#: request's. Events are immutable: one serves every handshake.
_H11_REQUEST: Final = h11.Request(
    method="GET",
    target="/",
    headers=[("Host", "h"), ("Upgrade", "websocket"), ("Connection", "Upgrade")],
)
_H11_END: Final = h11.EndOfMessage()

# The plain 101: HTTP/1.1, lines ended by CRLF, each header ``name: value`` with a value of
# visible characters, spaces and tabs. Each pattern is a strict subset of what h11 accepts
# and reads the same way (``tests/opening/test_plain_101.py`` feeds both), so reading it
# here changes no answer; anything else (a fold, a bare LF, a control character, HTTP/1.0,
# another 1xx first, a head split over reads) goes to h11 whole.
_STATUS_101: Final = re.compile(rb"HTTP/1\.1 101(?: [ \t\x21-\x7e\x80-\xff]*)?")
_PLAIN_FIELD: Final = re.compile(
    rb"([-!#$%&'*+.^_`|~0-9a-zA-Z]+):[ \t]*"
    rb"((?:[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*)?)[ \t]*"
)
#: Headers h11 applies rules of its own to, even in a 101: left to h11.
_FRAMING_HEADERS: Final = frozenset({b"content-length", b"transfer-encoding"})


class HandshakeError(Exception):
    """The server's ``101`` answer is not a valid WebSocket upgrade; the message says why."""


@dataclasses.dataclass(frozen=True, slots=True)
class Accepted:
    """The server accepted the upgrade.

    Attributes:
        subprotocol: the subprotocol it chose (one we offered), or ``None``.
        extensions: its raw ``Sec-WebSocket-Extensions`` value (several headers joined with
            ``", "``), or ``None``.
        headers: every response header, names lower-cased, values as received, in order.
        trailing: the bytes received after the response head: the first WebSocket frames.
    """

    subprotocol: str | None
    extensions: str | None
    headers: list[tuple[str, str]]
    trailing: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Rejected:
    """The server answered with a final status other than ``101``.

    Attributes:
        status: the HTTP status code.
        reason: the reason phrase, e.g. ``"Forbidden"``.
        headers: the response headers, names lower-cased, in order.
        body: at most ``MAX_REJECT_BODY`` bytes of the body, as much as had arrived.
    """

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of the first header called ``name`` (lower case), or ``None``."""
        return next((value for key, value in self.headers if key == name), None)


class ClientHandshake:
    """One opening handshake, from the request to the answer; used once.

    Build it with the request's parts, send ``request``, then feed what the socket
    delivers to ``receive_data`` and call ``next_answer`` until it returns an answer.

    Args:
        host: the ``Host`` header value.
        target: the request target, path and query.
        protocols: the subprotocols to offer; ``Sec-WebSocket-Protocol`` is sent when any.
        extensions: the raw ``Sec-WebSocket-Extensions`` offer, or ``None``.
        headers: every other request header, in order (``Origin``, ``User-Agent``,
            ``Authorization`` and the user's); a ``Host`` among them replaces ``host``.
        key: the ``Sec-WebSocket-Key``; by default 16 random bytes in base64, as required.
    """

    def __init__(
        self,
        *,
        host: str,
        target: str,
        protocols: Sequence[str] = (),
        extensions: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
        key: str | None = None,
    ) -> None:
        self.key = key if key is not None else base64.b64encode(random_bytes(16)).decode("ascii")
        self._target = target
        self._protocols = list(protocols)
        self._offered_extensions = extensions
        self._request_headers = _request_headers(host, self.key, protocols, extensions, headers)
        # Made when the answer is not a plain 101 (``_plain_101``): most handshakes never
        # build one (issue 18: h11 was 80% of the handshake's sans-I/O time).
        self._h11: h11.Connection | None = None
        self._plain: tuple[list[tuple[bytes, bytes]], bytes] | None = None
        self._response: h11.Response | None = None
        self._body = bytearray()
        self._answer: Accepted | Rejected | None = None

    @property
    def status(self) -> int | None:
        """The final non-101 status once its head has arrived (its body may still come)."""
        return self._response.status_code if self._response is not None else None

    def request(self) -> bytes:
        """The bytes of the upgrade request, to send once, first.

        Written by hand, not by h11 (issue 18: h11 re-validating what the options already
        checked was 40% of the handshake's sans-I/O time). When h11 parses the answer, it
        is told of an equivalent request (``_H11_REQUEST``: a ``GET`` proposing the upgrade),
        so the answer is read in the state the real request leads to. Header values are
        written as latin-1 bytes (RFC 9110's obs-text for 0x80-0xff); the options were
        checked to hold nothing else (``check_headers``, ``parse_url``).

        Raises:
            ValueError: a part of the request holds a CR or LF (it would split the head).
        """
        lines = [f"GET {self._target} HTTP/1.1\r\n"]
        lines += [f"{name}: {value}\r\n" for name, value in self._request_headers]
        lines.append("\r\n")
        head = "".join(lines)
        if head.count("\n") != len(lines) or head.count("\r") != len(lines):
            raise ValueError("the request target or a header holds a CR or LF")
        return head.encode("latin-1")

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the socket; ``b""`` means the server closed its side."""
        if self._answer is not None or self._plain is not None:
            return
        if self._h11 is None:
            self._plain = _plain_101(data)
            if self._plain is not None:
                return
            self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_RESPONSE_HEAD)
            self._h11.send(_H11_REQUEST)
            self._h11.send(_H11_END)
        self._h11.receive_data(data)

    def next_answer(self) -> Accepted | Rejected | None:
        """The answer, once complete; ``None`` while more data is needed.

        A ``Rejected`` is complete at the end of its body, at end of stream, or once
        ``MAX_REJECT_BODY`` bytes of it have arrived; ``rejection`` gives it sooner.

        Raises:
            HandshakeError: the response is not valid HTTP, or its ``101`` is not a valid
                WebSocket upgrade.
        """
        if self._answer is None and self._plain is not None:
            headers, trailing = self._plain
            self._answer = self._accept(b"1.1", headers, trailing)
        while self._answer is None:
            if self._h11 is None:
                return None  # nothing fed yet
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                if self._response is None:
                    raise HandshakeError(f"the response is not valid HTTP/1.1: {exc}") from None
                # A body cut short: what arrived is what there is.
                return self._finish()
            if event is h11.NEED_DATA:
                return None
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    trailing, _closed = self._h11.trailing_data
                    self._answer = self._accept(event.http_version, event.headers, trailing)
                # Other 1xx (100 Continue, 103 Early Hints) come before the real answer.
            elif isinstance(event, h11.Response):
                self._response = event
            elif isinstance(event, h11.Data):
                self._body += event.data[: MAX_REJECT_BODY - len(self._body)]
                if len(self._body) >= MAX_REJECT_BODY:
                    return self._finish()
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return self._finish()
            else:  # h11.PAUSED cannot come before the answer
                raise HandshakeError(f"unexpected HTTP event {event!r}")
        return self._answer

    def rejection(self) -> Rejected:
        """The non-101 answer with as much of its body as has arrived, without waiting more.

        Raises:
            RuntimeError: no non-101 response head has arrived yet.
        """
        if isinstance(self._answer, Rejected):
            return self._answer
        if self._response is None:
            raise RuntimeError("no rejection has arrived")
        response = self._response
        return Rejected(
            status=response.status_code,
            reason=response.reason.decode("latin-1"),
            headers=_decode(response.headers),
            body=bytes(self._body),
        )

    def _finish(self) -> Rejected:
        answer = self.rejection()
        self._answer = answer
        return answer

    def _accept(
        self,
        http_version: bytes,
        raw_headers: Iterable[tuple[bytes, bytes]],
        trailing: bytes | bytearray,
    ) -> Accepted:
        """The 101 checked against RFC 6455 4.1 (names in ``raw_headers`` lower-cased)."""
        if http_version < b"1.1":  # h11 reads one digit each side of the dot
            raise HandshakeError(
                f"101 in HTTP/{http_version.decode('ascii')}: RFC 6455 requires "
                "HTTP/1.1 or higher for the upgrade"
            )
        headers = _decode(raw_headers)
        values: dict[str, list[str]] = {}
        for name, value in headers:
            values.setdefault(name, []).append(value)
        upgrade = _tokens(values.get("upgrade", []))
        if "websocket" not in upgrade:
            raise HandshakeError(f"101 without 'Upgrade: websocket' (got {upgrade or 'none'})")
        connection = _tokens(values.get("connection", []))
        if "upgrade" not in connection:
            raise HandshakeError(f"101 without 'Connection: Upgrade' (got {connection or 'none'})")
        accept = values.get("sec-websocket-accept", [])
        if accept != [accept_token(self.key)]:
            raise HandshakeError(
                f"Sec-WebSocket-Accept {', '.join(accept) or 'missing'} does not match the key "
                "we sent"
            )
        return Accepted(
            subprotocol=self._chosen_subprotocol(values.get("sec-websocket-protocol", [])),
            extensions=self._chosen_extensions(values.get("sec-websocket-extensions", [])),
            headers=headers,
            trailing=bytes(trailing),
        )

    def _chosen_subprotocol(self, chosen: list[str]) -> str | None:
        if not chosen:
            return None
        if len(chosen) > 1 or "," in chosen[0]:
            raise HandshakeError(f"server chose several subprotocols: {', '.join(chosen)}")
        if chosen[0] not in self._protocols:
            offered = ", ".join(self._protocols) if self._protocols else "none"
            raise HandshakeError(
                f"server chose subprotocol {chosen[0]!r} we did not offer (offered: {offered})"
            )
        return chosen[0]

    def _chosen_extensions(self, chosen: list[str]) -> str | None:
        value = ", ".join(v for v in chosen if v)
        if not value:
            return None
        if self._offered_extensions is None:
            raise HandshakeError(f"server chose extensions {value!r} we did not offer")
        return value


def _plain_101(data: bytes) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
    """The headers (names lower-cased) and the bytes after the head of a plain 101 that
    ``data`` holds whole; ``None`` for anything else, which h11 reads."""
    end = data.find(b"\r\n\r\n")
    if end < 0 or end > MAX_RESPONSE_HEAD:
        return None
    lines = data[:end].split(b"\r\n")
    if _STATUS_101.fullmatch(lines[0]) is None:
        return None
    headers = []
    for line in lines[1:]:
        field = _PLAIN_FIELD.fullmatch(line)
        if field is None:
            return None
        name = field[1].lower()
        if name in _FRAMING_HEADERS:
            return None
        headers.append((name, field[2]))
    return headers, data[end + 4 :]


def _request_headers(
    host: str,
    key: str,
    protocols: Sequence[str],
    extensions: str | None,
    headers: Sequence[tuple[str, str]],
) -> list[tuple[str, str]]:
    host_override = [value for name, value in headers if name.lower() == "host"]
    result = [
        ("Host", host_override[-1] if host_override else host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    if protocols:
        result.append(("Sec-WebSocket-Protocol", ", ".join(protocols)))
    if extensions:
        result.append(("Sec-WebSocket-Extensions", extensions))
    result += [(name, value) for name, value in headers if name.lower() != "host"]
    return result


def _decode(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]


def _tokens(values: list[str]) -> list[str]:
    """The comma-separated tokens of a list-valued header, lower-cased."""
    return [
        token.strip().lower() for value in values for token in value.split(",") if token.strip()
    ]
