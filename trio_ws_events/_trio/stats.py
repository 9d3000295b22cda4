"""``ws.stats`` of the default engine: what went out and came in, and for how long."""

from __future__ import annotations

import trio

from .._events import Stats
from .._sansio.outbox import Outbox
from .._sansio.protocol import ClientProtocol

__all__ = ["connection_stats"]


def connection_stats(
    outbox: Outbox,
    protocol: ClientProtocol | None,
    opened_at: float | None,
    open_at: float | None,
    closed_at: float | None,
) -> Stats:
    """A snapshot of the counters; the times from when the attempt started (``opened_at``),
    OPEN was reached (``open_at``) and the connection ended (``closed_at``, or now)."""
    connect_time = time_open = None
    if open_at is not None:
        assert opened_at is not None
        connect_time = open_at - opened_at
        end = closed_at if closed_at is not None else trio.current_time()
        time_open = end - open_at
    return Stats(
        messages_sent=outbox.messages_written,
        bytes_sent=outbox.bytes_written,
        messages_received=protocol.messages_received if protocol else 0,
        bytes_received=protocol.bytes_received if protocol else 0,
        connect_time=connect_time,
        time_open=time_open,
    )
