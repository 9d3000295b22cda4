"""What every command of ``trio-ws-events`` shares: exit statuses, stop signals, printing."""

from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "STOP_SIGNALS",
    "complain",
    "next_signal",
    "say",
]

#: Exit statuses, in the shell's conventions.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: SIGTERM is how service managers and test harnesses stop a command: treat it like Ctrl-C.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def next_signal(signals: AsyncIterator[int]) -> None:
    """Return when the next stop signal arrives."""
    async for _ in signals:
        return


def say(line: str) -> None:
    """Print ``line`` to stdout at once."""
    # Flushed so that each event shows the moment it fires, even through a pipe.
    print(line, flush=True)


def complain(line: str) -> None:
    """Print ``line`` to stderr, after the program's name."""
    print(f"trio-ws-events: {line}", file=sys.stderr, flush=True)
