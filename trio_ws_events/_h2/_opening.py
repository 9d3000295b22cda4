"""Waiting for the answer to an extended CONNECT, and what it means for the stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import trio

from .._errors import ConnectError, HandshakeRejected
from ._errors import StreamBroken
from ._request import MAX_REJECT_BODY, Accepted, Rejected, read_response
from ._stream import H2WebSocketStream

if TYPE_CHECKING:
    from ._connection import H2Connection

__all__ = ["await_acceptance"]


async def await_acceptance(
    connection: H2Connection, stream: H2WebSocketStream, offered: Sequence[str]
) -> H2WebSocketStream:
    """Wait for the response to ``stream``'s extended CONNECT; return it open or raise.

    Raises:
        HandshakeRejected: a status other than 200, with at most ``MAX_REJECT_BODY`` of body.
        ConnectError: the stream or connection broke first, or the response was invalid.

    Cancellation: safe; a stream not opened is reset (CANCEL), so nothing more is sent on it.
    """
    opened = False
    try:
        answer = await _answer(stream, offered)
        if isinstance(answer, Rejected):
            raise HandshakeRejected(
                f"server rejected the extended CONNECT with status {answer.status}",
                status=answer.status,
                headers=answer.headers,
                body=answer.body,
            )
        stream.subprotocol = answer.subprotocol
        stream.extensions = answer.extensions
        stream.response_headers = answer.headers
        opened = True
        return stream
    finally:
        if not opened:
            # Reset rather than END_STREAM: Hypercorn 0.18 fails its whole connection on a
            # DATA frame for a stream it has already answered.
            connection._close_stream(stream, abort=True)
            stream._closed = True


async def _answer(stream: H2WebSocketStream, offered: Sequence[str]) -> Accepted | Rejected:
    try:
        while stream._response is None:
            await _wait_for_news(stream)
        if _status(stream._response) == 200:
            return read_response(stream._response, offered)
        while not stream._remote_ended and stream._error is None:
            if len(stream._buffer) >= MAX_REJECT_BODY:
                break
            await _wait_for_news(stream)
        return read_response(stream._response, offered, bytes(stream._buffer))
    except StreamBroken as exc:
        raise ConnectError(f"the extended CONNECT failed: {exc}") from exc
    except ValueError as exc:
        raise ConnectError(f"invalid response to the extended CONNECT: {exc}") from exc


async def _wait_for_news(stream: H2WebSocketStream) -> None:
    if stream._error is not None:
        raise stream._error
    stream._data_event = event = trio.Event()
    await event.wait()


def _status(headers: list[tuple[str, str]]) -> int | None:
    value = next((v for n, v in headers if n == ":status"), "")
    return int(value) if value.isdigit() else None
