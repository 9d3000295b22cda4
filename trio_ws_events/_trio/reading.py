"""The reader's reads: into one reusable buffer on a plain socket once reads are large."""

from __future__ import annotations

import errno
import os
from typing import Final

import trio

from .._sansio.frames import CHUNK_SIZE

__all__ = ["LARGE_READ", "Reads"]

#: A read of at least this many bytes gives the connection its reusable buffer
#: (``CHUNK_SIZE`` bytes, kept until the connection ends); a connection that only ever
#: reads less (W5's thousand idle ones) never gets one.
LARGE_READ: Final = 64 * 1024


class Reads:
    """``receive_some(CHUNK_SIZE)`` for the reader, without a fresh buffer per read.

    Every ``receive_some`` allocates ``CHUNK_SIZE`` bytes that the kernel then writes into:
    fresh memory, so page faults (3.8 us each on the machine of issue 18) on every large read.
    On a plain socket, once a read was large, the reads go into one reusable buffer with
    ``recv_into`` and are handed over as a ``memoryview`` of it, valid until the next read:
    ``ClientProtocol.receive`` copies out what it keeps (a message, a part of one). A read
    that the protocol keeps whole (``ClientProtocol.keeps_reads``: the payload of a large
    frame) is still a ``receive_some``, since a copy out of the buffer would cost more.
    """

    __slots__ = ("_socket", "_stream", "_view")

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._socket: trio.socket.SocketType | None = None
        if os.name == "posix" and isinstance(stream, trio.SocketStream):
            self._socket = stream.socket
        self._view: memoryview | None = None

    async def receive(self, keep: bool) -> bytes | memoryview:
        """The next bytes, ``b""`` at the end of the stream.

        Args:
            keep: the caller keeps the bytes beyond the next read: they must be ``bytes``.

        Returns:
            ``bytes``, or a view of the reusable buffer valid until the next call.

        Raises:
            trio.BrokenResourceError: the connection is broken.
            trio.ClosedResourceError: the stream was closed.

        Cancellation: safe, nothing is read.
        """
        view = self._view
        if view is None or keep:
            data = bytes(await self._stream.receive_some(CHUNK_SIZE))
            if view is None and self._socket is not None and len(data) >= LARGE_READ:
                self._view = memoryview(bytearray(CHUNK_SIZE))
            return data
        assert self._socket is not None
        try:
            size = await self._socket.recv_into(view)
        except OSError as exc:
            # As trio's SocketStream translates them.
            if exc.errno == errno.EBADF:
                raise trio.ClosedResourceError("this socket was already closed") from None
            raise trio.BrokenResourceError(f"socket connection broken: {exc}") from exc
        return view[:size]
