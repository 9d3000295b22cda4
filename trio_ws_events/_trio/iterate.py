"""``async for message in ws``: the pull-style view of the messages, beside the handlers.

The reader hands each whole message, after its ``on_message``/``on_binary`` handlers ran, to
the one live [`MessageIterator`][] through a zero-capacity trio memory channel: it waits
for the loop to take the message, as it waits for an ``async`` handler, so a slow loop slows
reading and at most one message is held for it. When the iterator is dropped (the loop ended:
``break``, ``return``, an exception) or closed with [`MessageIterator.aclose`][], the reader
stops handing messages over; they keep going to the handlers.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Final, final

import trio

from .._errors import InvalidStateError
from .._sansio.state import State

if TYPE_CHECKING:
    from typing import Self

    from .engine import Engine

__all__ = ["Feed", "MessageIterator"]


class Feed:
    """The reader's end of the channel to the live iterator; owned by the connection."""

    __slots__ = ("_iterator", "send")

    def __init__(
        self, send: trio.MemorySendChannel[str | bytes], iterator: MessageIterator
    ) -> None:
        self.send: Final = send
        # Weak: the loop owns the iterator, and its end (it is dropped) ends the feed.
        self._iterator = weakref.ref(iterator, self._dropped)

    def _dropped(self, _: object) -> None:
        self.send.close()  # a reader blocked handing a message over wakes at once

    @property
    def live(self) -> bool:
        """Whether the iterator still exists and was not closed."""
        iterator = self._iterator()
        return iterator is not None and not iterator._closed


@final
class MessageIterator:
    """The iterator behind ``async for message in ws``; made by ``aiter(ws)``, not directly.

    Yields each whole message as ``str`` (text) or ``bytes`` (binary), in arrival order, after
    the ``on_message``/``on_binary`` handlers of that message ran: both see every message.
    Iteration ends when the terminal event has run: cleanly after ``on_closed``, by raising
    the connection's [`WebSocketError`][] after ``on_error``. Messages that arrived
    before the iterator was made, and messages handed to ``on_incomplete_frame`` in pieces,
    are not yielded.

    The iterator serves one loop: once dropped (the loop ended by ``break``, ``return`` or an
    exception) or closed with ``aclose``, it yields nothing more, and later messages go
    to the handlers only; a new ``async for`` then starts a new one. While it exists, the
    connection waits for it to take each message, so keep it only as long as you iterate.
    (A dropped iterator is noticed when it is freed, at once on CPython; elsewhere, or to be
    explicit, call ``aclose``.)
    """

    __slots__ = ("__weakref__", "_busy", "_closed", "_receive", "_ws")

    def __init__(self, ws: Engine, receive: trio.MemoryReceiveChannel[str | bytes]) -> None:
        self._ws = ws
        self._receive = receive
        self._closed = False
        self._busy = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> str | bytes:
        """The next message; waits for it, or for the end of the connection.

        Cancellation: safe; a message not yet taken stays for the next call.

        Raises:
            StopAsyncIteration: the connection ended with ``on_closed``, or the iterator
                was closed.
            WebSocketError: the connection ended with ``on_error``: that error.
            InvalidStateError: another task is waiting on this iterator already.
        """
        if self._busy:
            raise InvalidStateError(
                "cannot iterate: another task is already waiting on this iterator; "
                "one task at a time may take messages",
                url=self._ws.shown_url,
            )
        self._busy = True
        try:
            return await self._next()
        finally:
            self._busy = False

    async def _next(self) -> str | bytes:
        if self._closed:
            await trio.lowlevel.checkpoint()
            raise StopAsyncIteration
        try:
            return await self._receive.receive()
        except trio.EndOfChannel:
            pass  # the connection is over (or this iterator was closed)
        except trio.ClosedResourceError:
            raise StopAsyncIteration from None  # aclose() from another task
        await self._ws.done.wait()  # the terminal handlers have run
        self._closed = True
        error = self._ws.error
        if error is not None:
            raise error
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop iterating: later messages go to the handlers only. Idempotent.

        Cancellation: safe; it only checkpoints.
        """
        self._closed = True
        self._receive.close()
        await trio.lowlevel.checkpoint()


def start_iteration(ws: Engine) -> MessageIterator:
    """Make the iterator of ``async for message in ws`` and connect the reader to it.

    Raises:
        InvalidStateError: ``open`` was not called, or another iterator is live.
    """
    if ws.state is State.INITIAL:
        raise InvalidStateError(
            f"cannot iterate over {ws.shown_url}: open() was not called; call "
            "open(nursery) or enter `async with` first",
            url=ws.shown_url,
        )
    feed = ws.feed
    if feed is not None and feed.live:
        raise InvalidStateError(
            f"cannot iterate over {ws.shown_url}: another `async for` over it is active; "
            "one iterator at a time (end the other loop or call its aclose())",
            url=ws.shown_url,
        )
    send, receive = trio.open_memory_channel[str | bytes](0)
    iterator = MessageIterator(ws, receive)
    ws.feed = Feed(send, iterator)
    if ws.done.is_set():
        send.close()  # nothing more will come: the iterator ends at once
    return iterator
