"""A wake-up flag for one waiting task: the sender's, set by everything that queues a frame."""

from __future__ import annotations

from collections.abc import Callable

import trio

__all__ = ["Wakeup"]


class Wakeup:
    """Like a ``trio.Event`` that clears itself when its one waiter wakes.

    The sender waits on it once per batch, so it is on every message's path: one object for
    the connection's life instead of a fresh ``trio.Event`` (and its parking lot) per batch,
    and ``set`` reschedules the waiting task directly. At most one task waits at a time.

    The waiting task may not exist yet: ``starter`` (when given) starts it at the first
    ``set``, once. A connection whose every frame is written directly (W4's handshakes, W5's
    echoes written by the reader) never starts its sender task (issue 18).
    """

    __slots__ = ("_flag", "_task", "starter")

    def __init__(self) -> None:
        self._flag = False
        self._task: trio.lowlevel.Task | None = None
        #: Called (then forgotten) by the first ``set`` that finds no waiter: it starts the
        #: task that waits. ``None``: nothing to start.
        self.starter: Callable[[], object] | None = None

    def is_set(self) -> bool:
        """Whether ``set`` was called since the waiter last woke."""
        return self._flag

    def set(self) -> None:
        """Wake the waiter, or the next call of ``wait`` at once; more calls change nothing."""
        if self._flag:
            return
        self._flag = True
        task = self._task
        if task is not None:
            self._task = None
            trio.lowlevel.reschedule(task)
        elif self.starter is not None:
            start, self.starter = self.starter, None
            start()

    def take(self) -> bool:
        """Clear the flag without waiting; whether it was set (a task just started by
        ``starter`` begins its work without a scheduler pass first)."""
        flag, self._flag = self._flag, False
        return flag

    async def wait(self) -> None:
        """Wait until ``set`` (a checkpoint when it already was), then clear the flag.

        Cancellation: safe; the flag stays as it was.
        """
        if self._flag:
            await trio.lowlevel.checkpoint()
        else:
            assert self._task is None, "only one task waits on a Wakeup"
            self._task = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(self._abort)
        self._flag = False

    def _abort(self, _: object) -> trio.lowlevel.Abort:
        self._task = None
        return trio.lowlevel.Abort.SUCCEEDED
