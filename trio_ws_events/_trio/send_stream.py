"""Sending one message in pieces: ``WebSocket.send_stream`` and the checks on its pieces."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Final

import trio

from .._errors import HandlerError, InvalidStateError
from .._sansio.outbox import Piece
from .._sansio.state import State

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["piece_source", "send_pieces"]

_END: Final = object()
NextPiece = Callable[[], Awaitable[object]]


def piece_source(pieces: object) -> NextPiece:
    """A function returning the next piece of ``pieces``, or ``_END``.

    Raises:
        TypeError: ``pieces`` is not an (async) iterable, or is a ``str`` or bytes-like
            (one message: use ``send()``).
    """
    if isinstance(pieces, str | bytes | bytearray | memoryview):
        raise TypeError(
            f"send_stream() takes an iterable of pieces, not one {type(pieces).__name__}; "
            "use send() for a whole message"
        )
    if isinstance(pieces, AsyncIterable):
        iterator = aiter(pieces)

        async def next_async() -> object:
            try:
                return await anext(iterator)
            except StopAsyncIteration:
                return _END

        return next_async
    if isinstance(pieces, Iterable):
        items = iter(pieces)

        async def next_sync() -> object:
            # A generator never yields to trio by itself: let the sender write meanwhile.
            await trio.lowlevel.checkpoint()
            return next(items, _END)

        return next_sync
    raise TypeError(
        "send_stream() takes an iterable or async iterable of str or bytes pieces, "
        f"got {type(pieces).__name__}"
    )


def check_piece(piece: object, text: bool | None, index: int) -> tuple[bytes, bool]:
    """``piece`` as bytes, and whether it is text; ``text`` is the kind of the first piece.

    Text is encoded whole, piece by piece, so no character is ever split across frames.

    Raises:
        TypeError: the piece is neither ``str`` nor bytes-like, or not of the first's kind.
        ValueError: a ``str`` piece has a lone surrogate.
    """
    if isinstance(piece, str):
        is_text = True
    elif isinstance(piece, bytes | bytearray | memoryview):
        is_text = False
    else:
        raise TypeError(
            f"send_stream() pieces must be str (text) or bytes-like (binary); piece {index} "
            f"is {type(piece).__name__}"
        )
    if text is not None and is_text != text:
        first, this = ("str", "bytes-like") if text else ("bytes-like", "str")
        raise TypeError(
            f"send_stream() pieces must all be str or all bytes-like; piece {index} is {this} "
            f"after {first} pieces"
        )
    if isinstance(piece, str):
        try:
            return piece.encode("utf-8"), True
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"cannot send text with a lone surrogate at index {exc.start} of piece {index}: "
                "it has no UTF-8 encoding"
            ) from None
    # Immutable bytes are queued as they are; the caller may reuse a mutable buffer.
    return (piece if type(piece) is bytes else bytes(piece)), False


class _Stream:
    """The state of one ``send_stream`` call: what went in, and how it ends."""

    __slots__ = ("conn", "count", "final", "sent", "text")

    def __init__(self, conn: Engine) -> None:
        self.conn = conn
        self.text: bool | None = None
        self.count = 0  # pieces taken from the source
        self.sent = 0  # payload bytes queued
        self.final: Piece | None = None

    def cut_short(self, what: str) -> InvalidStateError:
        conn = self.conn
        return InvalidStateError(
            f"cannot finish send_stream(): connection to {conn.shown_url} is "
            f"{conn.state.name}; {what} ({self.sent} bytes of the message were queued, and "
            "it is not listed in unsent)",
            url=conn.shown_url,
        )

    async def wait_for_room(self, size: int) -> None:
        conn = self.conn
        outbox = conn.outbox
        # Messages held behind this one cannot drain before it ends: waiting for them to
        # make room would wait forever.
        while (pending := outbox.buffered_amount - outbox.held_bytes) and (
            pending + size > conn.max_buffered
        ):
            if conn.state is not State.OPEN:
                return  # the caller's state check reports it
            await conn.written.wait()

    def put(self, data: bytes, final: bool) -> Piece:
        conn = self.conn
        assert self.text is not None
        piece = Piece(data, self.text, first=not conn.outbox.streaming, final=final)
        if piece.first:
            conn.outbox.begin_stream()
        conn.outbox.put_piece(piece)
        self.sent += len(data)
        if conn.drained.is_set() and conn.outbox.buffered_amount > conn.low_water:
            conn.drained = trio.Event()
        conn.wake.set()
        return piece

    async def run(self, next_piece: NextPiece) -> None:
        conn = self.conn
        while True:
            item = await next_piece()
            if item is _END:
                break
            self.count += 1
            data, self.text = check_piece(item, self.text, self.count - 1)
            if not data:
                continue  # an empty piece would be an empty frame: nothing to say
            await self.wait_for_room(len(data))
            if conn.state is not State.OPEN:
                raise self.cut_short("the message was cut short")
            self.put(data, final=False)
        if not conn.outbox.streaming:
            return  # no piece with any content: no message at all
        if conn.state is not State.OPEN:
            raise self.cut_short("the message was cut short")
        self.final = final = self.put(b"", final=True)
        while not final.written:
            if _closed(conn):
                raise self.cut_short("its last frame was never written")
            await conn.written.wait()

    def abandon(self, exc: BaseException | None) -> None:
        """The pieces failed half-way: the peer is inside a message that cannot end well."""
        conn = self.conn
        if self.final is not None or not conn.outbox.streaming:
            return  # nothing half-sent, or the message is complete and queued
        if conn.state is not State.OPEN:
            return  # the connection is ending anyway; cut_short tells the caller
        why = "was cancelled" if isinstance(exc, trio.Cancelled) else f"raised {exc!r}"
        error = HandlerError(
            f"send_stream() {why} after {self.sent} bytes of a message "
            f"(connection to {conn.shown_url} closed with 1011)",
            url=conn.shown_url,
        )
        if isinstance(exc, Exception):
            error.__cause__ = exc
        conn.fail(error, 1011, "message sent in pieces was abandoned")


def _closed(conn: Engine) -> bool:
    # A function, so that the state is read afresh after each wait (and for mypy).
    return conn.state is State.CLOSED


async def send_pieces(conn: Engine, next_piece: NextPiece) -> None:
    """Send the pieces from ``next_piece`` as one message on ``conn`` (see ``send_stream``)."""
    stream = _Stream(conn)
    try:
        await stream.run(next_piece)
    except BaseException as exc:
        # Not swallowed: re-raised once the half-sent message has been dealt with.
        stream.abandon(exc)
        raise
