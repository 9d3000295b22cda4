"""Control frames of the client protocol: what a ping, pong or close from the server means,
and the pong policy (which pongs are owed, until when), without I/O."""

from __future__ import annotations

from .events import CloseReceived, PendingPongs, Ping, Pong, ProtocolEvent, Wire
from .frames import (
    MAX_CONTROL_PAYLOAD,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    FrameError,
    decode_close,
    encode_close,
)
from .framing import FrameWriter

__all__ = ["ControlFrames"]


class ControlFrames:
    """The control frames of one connection, both ways.

    Every ping of the server is owed a pong (``pongs``, bounded: ``PendingPongs``) until our
    close frame is built; from then on none is (RFC 6455 5.5.2), and the ones still owed are
    dropped.
    """

    __slots__ = ("_close_framed", "_framer", "pongs")

    def __init__(self, framer: FrameWriter) -> None:
        self._framer = framer
        #: The pongs owed to the server, bounded; ``pong_frames`` answers them.
        self.pongs = PendingPongs()
        self._close_framed = False  # our close frame was built: no pong is owed after it

    def received(
        self, b0: int, opcode: int, length: int, payload: bytes, events: list[ProtocolEvent]
    ) -> bool:
        """Handle a whole control frame from the server; True when it was the close frame.

        Raises:
            FrameError: the frame breaks a rule (1002).
        """
        if opcode > OP_PONG:
            raise FrameError(1002, f"reserved opcode {opcode:#x}")
        if not b0 & 0x80:
            raise FrameError(1002, "fragmented control frame")
        if b0 & 0x70:
            raise FrameError(1002, "reserved bits set on a control frame")
        if length > MAX_CONTROL_PAYLOAD:
            raise FrameError(1002, f"control frame of {length} bytes (max 125)")
        if opcode == OP_PING:
            if not self._close_framed:
                # Owed until our close frame goes out (RFC 6455 5.5.2), then never.
                self.pongs.add(payload)
            events.append(Ping(payload))
            return False
        if opcode == OP_PONG:
            events.append(Pong(payload))
            return False
        code, reason = decode_close(payload)
        events.append(CloseReceived(code, reason))
        return True

    def ping(self, payload: bytes = b"") -> Wire:
        """A ping frame."""
        return self._framer.frame(OP_PING, payload)

    def pong(self, payload: bytes) -> Wire:
        """A pong frame answering a ping with ``payload``."""
        return self._framer.frame(OP_PONG, payload)

    def pong_frames(self) -> list[Wire]:
        """The frames answering every pong owed, oldest first; none is owed afterwards."""
        return [self._framer.frame(OP_PONG, payload) for payload in self.pongs.take()]

    def close(self, code: int | None, reason: str = "") -> Wire:
        """A close frame; ``code=None`` (or 1005) sends an empty one. No pong is owed after it."""
        self._close_framed = True
        self.pongs.take()
        return self._framer.frame(OP_CLOSE, encode_close(code, reason))
