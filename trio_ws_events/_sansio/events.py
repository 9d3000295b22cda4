"""The values the client protocol hands out: received events, pongs owed, frames to write."""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterator
from typing import Final

from .._events import Frame
from .frames import apply_mask

__all__ = [
    "MAX_PENDING_PONGS",
    "BinaryMessage",
    "Buffer",
    "CloseReceived",
    "Failure",
    "MaskedPayload",
    "PendingPongs",
    "Ping",
    "Pong",
    "ProtocolEvent",
    "TextMessage",
    "Wire",
]

#: The most pongs waiting to be written (see ``PendingPongs``).
MAX_PENDING_PONGS: Final = 16

Buffer = bytes | memoryview


class MaskedPayload:
    """A large payload masked a slice at a time as it is written, never copied whole.

    Masking must produce new bytes; doing it per slice keeps that copy at the size of one
    slice instead of the size of the message (a 50 MiB ``bytes`` is sent without a second
    50 MiB buffer).
    """

    __slots__ = ("_data", "_key")

    def __init__(self, data: Buffer, key: bytes) -> None:
        self._data = data
        self._key = key

    def __len__(self) -> int:
        return len(self._data)

    def slices(self, size: int) -> Iterator[bytes]:
        """The masked payload in slices of ``size`` bytes (a multiple of 4) or less."""
        assert size % 4 == 0, "slices must keep the mask aligned"
        view = memoryview(self._data)
        for offset in range(0, len(view), size):
            yield apply_mask(view[offset : offset + size], self._key)


#: A frame as handed to the socket: one piece of bytes, or its header and its payload apart
#: (a payload of ``SEPARATE_PAYLOAD`` bytes or more, masked or to be masked as it is written),
#: so that the writer hands both to the kernel in one ``writev`` without joining them.
Wire = tuple[bytes] | tuple[bytes, bytes | MaskedPayload]


@dataclasses.dataclass(slots=True)
class TextMessage:
    """A whole text message."""

    data: str


@dataclasses.dataclass(slots=True)
class BinaryMessage:
    """A whole binary message."""

    data: bytes


@dataclasses.dataclass(slots=True)
class Ping:
    """A ping from the server; the owner answers it with a pong of the same payload."""

    payload: bytes


@dataclasses.dataclass(slots=True)
class Pong:
    """A pong from the server."""

    payload: bytes


@dataclasses.dataclass(slots=True)
class CloseReceived:
    """The server's close frame: its code (1005 when it carried none) and reason."""

    code: int
    reason: str


@dataclasses.dataclass(slots=True)
class Failure:
    """The server broke the protocol: close with ``code``. No event follows."""

    code: int
    reason: str


ProtocolEvent = TextMessage | BinaryMessage | Frame | Ping | Pong | CloseReceived | Failure


class PendingPongs:
    """The pongs owed to the server and not yet written: at most ``limit``, newest kept.

    RFC 6455 5.5.3 lets an endpoint that has not yet answered several pings answer only the
    most recent: past ``limit`` the oldest is forgotten, so a peer that floods pings and reads
    nothing cannot make us hold more than ``limit`` pongs (125 bytes of payload each at most).
    """

    __slots__ = ("_limit", "_payloads", "dropped")

    def __init__(self, limit: int = MAX_PENDING_PONGS) -> None:
        self._limit = limit
        # Made at the first ping: a deque costs 760 bytes, and most connections never
        # see a ping (W5 measures 1,000 open connections).
        self._payloads: collections.deque[bytes] | None = None
        #: How many pings went unanswered because a later one replaced them.
        self.dropped = 0

    def add(self, payload: bytes) -> None:
        """Owe a pong for a ping with ``payload``."""
        payloads = self._payloads
        if payloads is None:
            payloads = self._payloads = collections.deque(maxlen=self._limit)
        if len(payloads) == payloads.maxlen:
            self.dropped += 1
        payloads.append(payload)

    def take(self) -> list[bytes]:
        """The payloads to answer now, oldest first; none is owed afterwards."""
        payloads = self._payloads
        if not payloads:
            return []
        taken = list(payloads)
        payloads.clear()
        return taken

    def __bool__(self) -> bool:
        return bool(self._payloads)

    def __len__(self) -> int:
        return len(self._payloads) if self._payloads is not None else 0
