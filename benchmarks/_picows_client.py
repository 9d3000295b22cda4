"""picows' client (frames parsed in Cython, on asyncio), as a task-style client.

picows is callback-based: its listener gets each frame in ``on_ws_frame``. The adapter
turns that into the ``send`` / ``recv`` the workloads of ``_workloads.py`` await: frames
are gathered into messages (the echo server returns a message as the frames it got) and
handed over through an ``asyncio.Queue``; ``send`` is ``WSTransport.send``, which never
blocks, wrapped in a coroutine because the workloads await it. It runs on the standard
asyncio loop unless the runner is given ``--client-loop uvloop``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from ._asyncio_clients import AsyncioConcurrency
from ._common import CLIENT_MAX_MESSAGE, ClientFailed
from ._workloads import Channel, TaskClient

__all__ = ["Picows"]


def _listener_class() -> type[Any]:
    from picows import WSListener, WSMsgType  # type: ignore[import-not-found,unused-ignore]

    text, binary, cont = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION
    close = WSMsgType.CLOSE

    class Listener(WSListener):  # type: ignore[misc,unused-ignore]
        """Whole messages into ``queue``; a close frame or the end puts ``None``."""

        def __init__(self) -> None:
            self.queue: asyncio.Queue[str | bytes | None] = asyncio.Queue()
            self._parts: list[bytes] = []
            self._text = False

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            kind = frame.msg_type
            if kind is text or kind is binary:
                if frame.fin:
                    payload = frame.get_payload_as_bytes()
                    self.queue.put_nowait(payload.decode() if kind is text else payload)
                    return
                self._text = kind is text
                self._parts = [frame.get_payload_as_bytes()]
            elif kind is cont:
                self._parts.append(frame.get_payload_as_bytes())
                if frame.fin:
                    payload = b"".join(self._parts)
                    self._parts = []
                    self.queue.put_nowait(payload.decode() if self._text else payload)
            elif kind is close:
                self.queue.put_nowait(None)

        def on_ws_disconnected(self, transport: Any) -> None:
            self.queue.put_nowait(None)

    return Listener


class _Connection:
    """One picows connection with ``send`` and ``recv`` coroutines."""

    def __init__(self, transport: Any, listener: Any, text: Any, binary: Any) -> None:
        self.transport = transport
        self._get = listener.queue.get
        self._send = transport.send
        self._text = text
        self._binary = binary

    async def send_text(self, message: str) -> None:
        self._send(self._text, message.encode())

    async def send_binary(self, message: bytes) -> None:
        self._send(self._binary, message)

    async def recv(self) -> str | bytes:
        message: str | bytes | None = await self._get()
        if message is None:
            raise ClientFailed("the server closed the connection")
        return message


class Picows(TaskClient):
    """``picows.ws_connect``: ``WSTransport.send``, frames gathered in ``on_ws_frame``."""

    dists = ("picows",)
    settings = "ws_connect(listener, url, max_frame_size=128 MiB); auto pong, no auto ping"

    def __init__(self, use_uvloop: bool = False) -> None:
        import picows

        self._picows = picows
        self._listener = _listener_class()
        self.concurrency = AsyncioConcurrency(use_uvloop)

    def connect(self, url: str) -> AbstractAsyncContextManager[Any]:
        return self._open(url)

    @asynccontextmanager
    async def _open(self, url: str) -> AsyncIterator[_Connection]:
        picows = self._picows
        transport, listener = await picows.ws_connect(
            self._listener, url, max_frame_size=CLIENT_MAX_MESSAGE
        )
        try:
            yield _Connection(transport, listener, picows.WSMsgType.TEXT, picows.WSMsgType.BINARY)
        finally:
            transport.send_close(picows.WSCloseCode.OK)
            await transport.wait_disconnected()

    def channel(self, ws: Any, payload: str | bytes) -> Channel:
        if isinstance(payload, str):
            return Channel(ws.send_text, ws.recv, payload, payload)
        return Channel(ws.send_binary, ws.recv, payload, payload)
