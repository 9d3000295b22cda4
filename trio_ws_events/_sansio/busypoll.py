"""When to busy-poll for the peer's answer after a write, instead of letting the run sleep.

On a fast peer (loopback, a LAN, a VM's neighbour) the answer to a small message arrives in
tens of microseconds, while a process that sleeps in ``epoll_wait`` and is woken pays its own
wake-up latency on top: on the 2-core VM the benchmarks run on, a 16-byte round trip is 22 us
when the client polls and 72 us when it sleeps (docs/benchmarks.md). So, after a write, when
nothing else in the Trio run is ready, the driver may poll the socket for a short ``budget``
before it lets the run sleep: the same trade as Linux's ``SO_BUSY_POLL``, a little CPU for
latency.

The policy is adaptive, so that a slow peer costs almost nothing: each poll that ends without
an answer doubles the number of writes after which the next poll is tried (up to
``MAX_SKIP``); an answer within the budget resets it. No clock is read here: the driver
measures and reports.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_BUDGET", "HANDSHAKE_FACTOR", "MAX_BUDGET", "MAX_SKIP", "BusyPoll"]

#: Seconds of polling after a write, by default: above the 20-30 us a loopback echo takes
#: here, far below any wide-area round trip (those stop polling after one miss).
DEFAULT_BUDGET: Final = 50e-6
#: The longest poll allowed: it holds the whole Trio run (every task waits meanwhile).
MAX_BUDGET: Final = 1e-3
#: After repeated misses, one poll is tried per this many writes at most.
MAX_SKIP: Final = 64
#: The answer to the upgrade request is polled for this many times the budget: a server
#: does more for a handshake than for an echo (the picows server's ``101`` came 71-127 us
#: after the request, median 76, against 20-30 us for an echo), and a poll that ends just
#: before it costs the whole wake-up it was meant to spare (issue 18, W4).
HANDSHAKE_FACTOR: Final = 4


class BusyPoll:
    """The busy-poll decision of one connection.

    Args:
        budget: seconds to poll after a write; 0 never polls.
    """

    __slots__ = ("_backoff", "_skip", "budget", "hits", "polls")

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self._skip = 0  # writes left before the next poll is tried
        self._backoff = 0  # the skip after the next miss is twice this (at least 1)
        #: Polls tried, and those the answer ended within the budget (tests read these).
        self.polls = 0
        self.hits = 0

    def wanted(self) -> bool:
        """Whether to poll after the write just made (counts the write when not)."""
        if not self.budget:
            return False
        if self._skip:
            self._skip -= 1
            return False
        return True

    def done(self, answered: bool) -> None:
        """Report how the poll ended: the answer arrived within the budget, or not."""
        self.polls += 1
        if answered:
            self.hits += 1
            self._backoff = 0
        else:
            self._backoff = min(max(1, 2 * self._backoff), MAX_SKIP)
            self._skip = self._backoff
