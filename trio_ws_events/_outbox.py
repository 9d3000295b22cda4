"""The outgoing queue: what ``send()`` accepted and the socket has not taken yet (no I/O)."""

from __future__ import annotations

from collections import deque

__all__ = ["Outbox", "payload_size"]

Message = str | bytes


def payload_size(message: Message) -> int:
    """Bytes ``message`` occupies on the wire before framing: UTF-8 length for text."""
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
        "_in_flight",
        "_in_flight_bytes",
        "_queue",
        "buffered_amount",
        "bytes_written",
        "messages_written",
    )

    def __init__(self) -> None:
        self._queue: deque[tuple[Message, int]] = deque()
        self._in_flight: list[Message] = []
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
        self._queue.append((message, size))
        self.buffered_amount += size

    def take(self, max_bytes: int) -> list[Message]:
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
        self.messages_written += len(self._in_flight)
        self.bytes_written += self._in_flight_bytes
        self._in_flight = []
        self._in_flight_bytes = 0

    def unsent(self) -> tuple[Message, ...]:
        """Everything not confirmed written: the batch in flight, then the queue."""
        return (*self._in_flight, *(message for message, _ in self._queue))
