"""Values handed to handlers that need more than a plain ``str`` or ``bytes``."""

from __future__ import annotations

import dataclasses

__all__ = ["Frame", "Stats"]


@dataclasses.dataclass(frozen=True, slots=True)
class Frame:
    """One piece of a message that did not arrive whole, given to ``on_incomplete_frame``.

    Attributes:
        data: the piece: ``str`` for a text message (never splitting a UTF-8 sequence),
            ``bytes`` for a binary one. It may be empty on the final piece.
        is_text: whether the message is a text message.
        final: True on the last piece of the message.
    """

    data: str | bytes
    is_text: bool
    final: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Stats:
    """Counters of one connection, as returned by ``ws.stats`` (a snapshot).

    Attributes:
        messages_sent: messages whose frames reached the socket.
        bytes_sent: their payload bytes (UTF-8 for text), before framing and compression.
        messages_received: whole messages received, streamed ones included.
        bytes_received: their payload bytes, after decompression.
        connect_time: seconds from ``open()`` to OPEN; ``None`` if it never opened.
        time_open: seconds spent OPEN or CLOSING so far (until CLOSED); ``None`` if never open.
    """

    messages_sent: int
    bytes_sent: int
    messages_received: int
    bytes_received: int
    connect_time: float | None
    time_open: float | None
