"""What the public calls of both WebSocket classes check before they change anything: the
calling thread, the nursery given to ``open()``, the type of a message."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Final

import trio

from ._errors import SendBufferFull

__all__ = ["as_message", "get_ident", "send_when_room", "start_in", "unencodable", "wrong_thread"]

#: The id of the calling thread, compared with the one running Trio.
get_ident: Final = threading.get_ident


def start_in(nursery: object, start: Callable[[trio.Nursery], None], what: str, owner: str) -> None:
    """Check ``nursery`` and the calling thread, then ``start(nursery)``, as ``open()`` does.

    Args:
        nursery: what the caller gave to ``open()``.
        start: starts the task in the nursery; it raises ``RuntimeError`` if the nursery
            no longer accepts tasks.
        what: what is started, as the refusal names it (``"the connection to <url>"``).
        owner: ``"ws"`` or ``"rws"``, the name the refusals use for the instance.

    Raises:
        TypeError: ``nursery`` is not a trio nursery.
        RuntimeError: called outside the Trio thread, or the nursery no longer accepts tasks.
    """
    if not isinstance(nursery, trio.Nursery):
        raise TypeError(f"open() takes a trio.Nursery, got {type(nursery).__name__}")
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        raise RuntimeError(wrong_thread("open", owner)) from None
    try:
        start(nursery)
    except RuntimeError as exc:
        raise RuntimeError(
            f"open() could not start {what}: {exc}; call open() while the nursery's async "
            "with block is still running"
        ) from exc


async def send_when_room(
    send: Callable[[str | bytes], None],
    message: str | bytes,
    room_may_come: Callable[[], Awaitable[object]],
) -> None:
    """``send(message)``, waiting on ``room_may_come()`` each time the buffer is full.

    Cancellation: while waiting nothing was queued.
    """
    while True:
        try:
            send(message)
        except SendBufferFull:
            await room_may_come()
        else:
            return


def wrong_thread(what: str, owner: str = "ws") -> str:
    """The refusal of a call to ``owner.what`` from a thread that is not running Trio."""
    if what == "send":
        threadsafe = "ws.send_threadsafe(msg) or " if owner == "ws" else ""
        return (
            "send(msg) was called from a thread that is not running this connection's Trio "
            f"loop; nothing was queued. From another thread use {threadsafe}"
            f"trio.from_thread.run_sync({owner}.send, msg)"
        )
    runner = "run" if what in _ASYNC_METHODS else "run_sync"
    return (
        f"{what}() was called from a thread that is not running this connection's Trio "
        f"loop; nothing changed. From another thread use trio.from_thread.{runner}("
        f"{owner}.{what}, ...), as for sending: trio.from_thread.run_sync({owner}.send, msg)"
    )


_ASYNC_METHODS: Final = frozenset(
    {"drain", "send_wait", "send_stream", "ping", "wait_closed", "__aexit__"}
)


def unencodable(exc: UnicodeEncodeError) -> ValueError:
    """The refusal of a text message UTF-8 cannot encode."""
    return ValueError(
        f"cannot send text with a lone surrogate at index {exc.start}: it has no UTF-8 encoding"
    )


def as_message(data: object) -> str | bytes:
    """``data`` as exactly ``str`` (text) or ``bytes`` (binary), whatever subclass it is."""
    if type(data) is str or type(data) is bytes:
        return data  # the common case: no copy
    if isinstance(data, str):
        # A subclass (an enum.StrEnum member) is text. str.__str__ gives its characters as
        # an exact str, whatever __str__ or encode() the subclass overrides.
        return str.__str__(data)
    if isinstance(data, bytes | bytearray | memoryview):
        # memoryview reads the buffer itself, not an overridden __bytes__.
        return bytes(memoryview(data))
    raise TypeError(
        "send() takes str (text) or bytes, bytearray, memoryview (binary), "
        f"got {type(data).__name__}"
    )
