"""The outgoing queue: what ``send()`` accepted and the socket has not taken yet (no I/O)."""

from __future__ import annotations

from collections import deque

__all__ = ["Outbox", "Piece", "payload_size"]

Message = str | bytes


class Piece:
    """One piece of a message sent with ``send_stream``: framed on its own, with ``final``
    on the last. Never listed in ``unsent``, which holds whole messages only."""

    __slots__ = ("data", "final", "first", "text", "written")

    def __init__(self, data: bytes, text: bool, first: bool, final: bool) -> None:
        self.data = data
        self.text = text
        self.first = first
        self.final = final
        #: Set once the socket took this piece.
        self.written = False


def payload_size(message: Message | Piece) -> int:
    """Bytes ``message`` occupies on the wire before framing: UTF-8 length for text."""
    if isinstance(message, Piece):
        return len(message.data)
    if isinstance(message, str):
        # isascii() is a flag check on CPython: it spares an encode for the common case.
        return len(message) if message.isascii() else len(message.encode("utf-8"))
    return len(message)


class Outbox:
    """Messages accepted by ``send()``, in order, with the byte count the API reports.

    A batch taken for writing stays *in flight* until ``written`` confirms the socket
    took it; if the write never completes, ``unsent`` still lists it, so a message is
    never both missing from the wire and missing from the report.
    """

    __slots__ = (
        "_held",
        "_in_flight",
        "_in_flight_bytes",
        "_pieces",
        "_queue",
        "buffered_amount",
        "bytes_written",
        "held_bytes",
        "messages_written",
    )

    def __init__(self) -> None:
        # Made at the first put: an idle connection's empty deque cost 760 B (W5's memory).
        self._queue: deque[tuple[Message | Piece, int]] | None = None
        self._in_flight: list[Message | Piece] = []
        # While a message goes out in pieces, whole messages wait here, behind it.
        self._held: deque[tuple[Message, int]] | None = None
        self._pieces = 0  # pieces queued or in flight, not yet confirmed written
        #: The part of ``buffered_amount`` held behind a message sent in pieces: it cannot
        #: drain before that message ends, so the pieces' producer must not wait for it.
        self.held_bytes = 0
        self._in_flight_bytes = 0
        #: Payload bytes queued or in flight, not yet handed to the socket.
        self.buffered_amount = 0
        #: Totals of what reached the socket, for ``ws.stats``.
        self.messages_written = 0
        self.bytes_written = 0

    def __bool__(self) -> bool:
        """Whether messages wait in the queue (the batch in flight not counted)."""
        return bool(self._queue)

    @property
    def queued_bytes(self) -> int:
        """Payload bytes waiting in the queue, the batch in flight not counted."""
        return self.buffered_amount - self._in_flight_bytes

    @property
    def in_flight(self) -> bool:
        """Whether a batch was taken and not yet confirmed by ``written``."""
        return bool(self._in_flight)

    def put(self, message: Message) -> None:
        size = payload_size(message)
        if self._held is not None:
            self._held.append((message, size))
            self.held_bytes += size
        elif self._queue is not None:
            self._queue.append((message, size))
        else:
            self._queue = deque(((message, size),))
        self.buffered_amount += size

    @property
    def streaming(self) -> bool:
        """Whether a message is going out in pieces (whole messages are held behind it)."""
        return self._held is not None

    def begin_stream(self) -> None:
        """From now on, ``put`` holds whole messages until the final piece is queued."""
        assert self._held is None, "a stream is already open"
        self._held = deque()

    def put_piece(self, piece: Piece) -> None:
        """Queue the next piece of the message in progress; the final one ends the stream."""
        assert self._held is not None, "no stream is open"
        size = len(piece.data)
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append((piece, size))
        self._pieces += 1
        self.buffered_amount += size
        if piece.final:
            queue.extend(self._held)
            self._held = None
            self.held_bytes = 0

    def take(self, max_bytes: int) -> list[Message | Piece]:
        """Move messages into flight until ``max_bytes`` of payload (at least one message)."""
        assert not self._in_flight, "the previous batch was not confirmed"
        batch = self._in_flight
        total = 0
        queue = self._queue
        while queue and (total < max_bytes or not batch):
            message, size = queue.popleft()
            batch.append(message)
            total += size
        self._in_flight_bytes = total
        return batch

    def written(self) -> None:
        """The batch from the last ``take`` reached the socket.

        Call it only once ``send_all`` of that whole batch has returned: a batch whose write
        failed, was cancelled, or was never framed stays in ``unsent``.
        """
        self.buffered_amount -= self._in_flight_bytes
        if self._pieces:
            self._pieces_written()
        else:  # the common case, kept to one addition
            self.messages_written += len(self._in_flight)
        self.bytes_written += self._in_flight_bytes
        self._in_flight = []
        self._in_flight_bytes = 0

    def _pieces_written(self) -> None:
        for message in self._in_flight:
            if type(message) is Piece:
                message.written = True
                self.messages_written += message.final  # a message once its last piece is
                self._pieces -= 1
            else:
                self.messages_written += 1

    def unsent(self) -> tuple[Message, ...]:
        """Every whole message not confirmed written: the batch in flight, the queue, then
        the messages held behind a message sent in pieces (its pieces are not listed)."""
        queued = (message for message, _ in self._queue or ())
        held = (message for message, _ in self._held or ())
        return tuple(m for m in (*self._in_flight, *queued, *held) if not isinstance(m, Piece))
