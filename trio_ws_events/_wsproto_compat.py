"""The one place that reaches into wsproto's private internals, and why.

wsproto 1.3 refuses a close frame from the peer whose code is 1014 (Bad Gateway, registered
with IANA and listed as sendable by RFC 6455's registry) because its ``CloseReason`` enum
stops at 1013: a server closing with 1014 would make us fail the connection with 1002. We
replace the close-frame check of our own ``FrameProtocol`` instance with one that follows the
IANA registry. ``tests/test_wsproto_internals.py`` pins the private names used here
(``Connection._proto``, ``FrameProtocol._process_close``) and fails loudly if a wsproto
release moves them.
"""

from __future__ import annotations

import contextlib
import struct
from typing import Any

from wsproto import WSConnection
from wsproto.frame_protocol import CloseReason, Frame, FrameProtocol, ParseFailed

__all__ = ["install_close_check", "peer_may_send"]


def peer_may_send(code: int) -> bool:
    """Whether a close frame from the peer may carry ``code`` (RFC 6455 7.4, IANA registry)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def _process_close(frame: Frame) -> Frame:
    payload = frame.payload
    assert isinstance(payload, bytes | bytearray)
    if not payload:
        result: tuple[int, str] = (CloseReason.NO_STATUS_RCVD, "")
    elif len(payload) == 1:
        raise ParseFailed("close frame with a 1-byte payload")
    else:
        (code,) = struct.unpack("!H", payload[:2])
        if not peer_may_send(code):
            raise ParseFailed(f"close frame with invalid code {code}")
        try:
            reason = bytes(payload[2:]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseFailed(
                f"close reason is not valid UTF-8: {exc}", CloseReason.INVALID_FRAME_PAYLOAD_DATA
            ) from None
        with contextlib.suppress(ValueError):
            code = CloseReason(code)
        result = (code, reason)
    return Frame(frame.opcode, result, frame.frame_finished, frame.message_finished)


def install_close_check(protocol: WSConnection) -> None:
    """Make ``protocol`` (an open client connection) check close frames with our rules."""
    proto: Any = protocol.connection._proto  # type: ignore[union-attr]
    if not isinstance(proto, FrameProtocol) or not hasattr(proto, "_process_close"):
        raise RuntimeError("wsproto's FrameProtocol changed: trio_ws_events needs an update")
    proto._process_close = _process_close  # type: ignore[method-assign]
