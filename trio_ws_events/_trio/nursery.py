"""The ``async with`` form of both clients: a nursery of their own, entered and left.

A lone handler exception comes out of it bare, as if no nursery were involved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import trio

from .._errors import WebSocketError

__all__ = [
    "OwnsNursery",
    "Runner",
    "enter_own_nursery",
    "exit_nursery",
    "leave_own_nursery",
    "single_leaf",
]


class OwnsNursery(Protocol):
    """What ``WebSocket`` and ``ReconnectingWebSocket`` share for the ``async with`` form."""

    _nursery_cm: Any

    @property
    def is_open(self) -> bool: ...

    def open(self, nursery: trio.Nursery) -> None: ...


class Runner(Protocol):
    """What runs a client (its engine, or the reconnecting loop): the events of its end."""

    ready: trio.Event
    done: trio.Event
    error: WebSocketError | None


async def enter_own_nursery(
    owner: OwnsNursery, runner: Runner, entered: trio.Event | None = None
) -> None:
    """Open ``owner`` in a nursery of its own and wait until it is open (or has ended).

    Args:
        owner: the client, not yet opened (the caller checked).
        runner: what runs it: ``ready`` once open or over, ``done`` and ``error`` at the end.
        entered: set once the caller may use the instance (the connection then reads on).

    Raises:
        WebSocketError: the attempt failed (after ``on_error`` ran), the same error.

    Cancellation: the nursery is left (its tasks cancelled) before ``Cancelled`` propagates.
    """
    owner._nursery_cm = trio.open_nursery()
    nursery = await owner._nursery_cm.__aenter__()
    try:
        owner.open(nursery)
        await runner.ready.wait()
    except BaseException as exc:
        if entered is not None:
            entered.set()
        await _leave(owner, exc)
        raise
    if entered is not None:
        entered.set()
    if not owner.is_open:
        # The attempt failed, or on_open already ended the connection.
        await runner.done.wait()
        await _leave(owner, None)  # raises a handler's exception, if one did
        if runner.error is not None:
            raise runner.error


async def leave_own_nursery(
    owner: OwnsNursery, runner: Runner, exc: BaseException | None, close: Callable[[int], None]
) -> None:
    """Close with 1000 (1011 when leaving by an exception), wait for the end, leave.

    Cancelled, it closes nothing: the nursery's cancellation ends the connection (1001).
    """
    if not isinstance(exc, trio.Cancelled):
        close(1000 if exc is None else 1011)
        try:
            await runner.done.wait()
        except BaseException as inner:
            await _leave(owner, inner)
            raise
    await _leave(owner, exc)


async def _leave(owner: OwnsNursery, exc: BaseException | None) -> None:
    cm, owner._nursery_cm = owner._nursery_cm, None
    await exit_nursery(cm, exc)


async def exit_nursery(cm: Any, exc: BaseException | None) -> None:
    """Leave the ``async with`` nursery ``cm`` (entered by the caller), with ``exc`` or none.

    A group holding one exception (not ``Cancelled``) is unwrapped: the user's handler error
    comes out as itself, as if no nursery were involved. When that exception is ``exc``,
    nothing is raised (``__aexit__`` returns False and Python re-raises ``exc`` unwrapped).

    Cancellation: ``cm.__aexit__`` waits for the nursery's tasks, as any nursery does.
    """
    try:
        if exc is None:
            await cm.__aexit__(None, None, None)
        else:
            await cm.__aexit__(type(exc), exc, exc.__traceback__)
    except BaseExceptionGroup as group:
        leaf = single_leaf(group)
        if leaf is None:
            raise
        if leaf is exc:
            return
        raise leaf from leaf.__cause__


def single_leaf(group: BaseExceptionGroup[Any]) -> BaseException | None:
    """The only exception inside ``group`` (through nesting), unless it is a Cancelled."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    if len(leaves) != 1 or isinstance(leaves[0], trio.Cancelled):
        return None
    return leaves[0]
