"""Whether the connections of this thread's Trio run are receiving together, so that a reader
lets the write of what its handlers sent wait for the next scheduler pass.

When many connections receive at once (a thousand replies arriving in one ``epoll_wait``),
their readers run one after the other in one pass of the scheduler. A reader that wrote its
handlers' reply at once would space the writes by its own handling (20-40 us each): the peer
handles each message before the next one comes and goes back to sleep, and every write pays
for waking it (on the VM of issue 18, a 16-byte ``write(2)`` took 12-14 us so, and 8 us when
the writes of one pass leave together). A reader in a crowd therefore yields once before it
writes: the writes of the whole pass then leave back to back at the start of the next one,
as an asyncio loop's do (it runs every reading callback of a wake-up before any task that
writes). A lone connection (one busy connection among idle ones) writes at once, as before:
the pass it would wait for is pure latency.

Trio does not say which tasks share a pass, so this tells a crowd by time: another
connection's reader handled a read less than ``WINDOW`` ago. The first reader of a pass
cannot know that others follow it: when the pass before was long ago, it writes at once.
The clock is the process's (``time.perf_counter``): each Trio run's clock has an offset of
its own, and a test's may be a ``MockClock``.
"""

from __future__ import annotations

import threading
import time
from typing import Final

__all__ = ["WINDOW", "in_crowd"]

#: Two reads handled by different connections at most this far apart (seconds) are one
#: crowd: far above the 20-40 us between the readers of one pass, far below the time
#: between the messages of a connection that is busy alone.
WINDOW: Final = 1e-3


class _Last(threading.local):
    """The last read handled in this thread (each Trio run has a thread of its own)."""

    reader = 0  # id() of its connection: no reference, an ended connection is freed
    at = float("-inf")


_last = _Last()
_clock = time.perf_counter


def in_crowd(reader: object, now: float | None = None) -> bool:
    """Record that ``reader`` handles a read now (``now``: ``time.perf_counter()``, given by
    tests); whether another reader handled one less than ``WINDOW`` before."""
    if now is None:
        now = _clock()
    last = _last
    key = id(reader)
    crowd = last.reader != key and now - last.at < WINDOW
    last.reader = key
    last.at = now
    return crowd
