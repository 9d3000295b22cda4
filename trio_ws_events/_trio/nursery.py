"""Leaving the nursery of the ``async with`` form: one lone handler exception comes out bare."""

from __future__ import annotations

from typing import Any

import trio

__all__ = ["exit_nursery", "single_leaf"]


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
