"""What each h2 event from the server does to a connection and its streams."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import h2.errors
import h2.events

from ._errors import StreamRefused, StreamReset

if TYPE_CHECKING:
    from ._connection import H2Connection
    from ._stream import H2WebSocketStream

__all__ = ["code_name", "dispatch"]


def dispatch(connection: H2Connection, event: h2.events.Event) -> None:
    """Apply one h2 event from the server to the connection and its streams."""
    stream = connection._streams.get(getattr(event, "stream_id", 0) or 0)
    if isinstance(event, h2.events.DataReceived):
        connection._credit_connection(event.flow_controlled_length)
        if stream is not None and event.data:
            stream._on_data(event.data)
        padding = event.flow_controlled_length - len(event.data)
        if stream is not None and padding:
            connection._credit_stream(stream, padding)
    elif isinstance(event, h2.events.ResponseReceived) and stream is not None:
        stream._response = [(str(n), str(v)) for n, v in event.headers or ()]
        stream._wake()
    elif isinstance(event, h2.events.StreamEnded) and stream is not None:
        stream._on_end()
        connection._forget_if_done(stream)
    elif isinstance(event, h2.events.StreamReset):
        _on_reset(connection, event, stream)
    elif isinstance(event, h2.events.WindowUpdated):
        _on_window(connection, stream, event.stream_id)
    elif isinstance(event, h2.events.RemoteSettingsChanged):
        connection._settings.set()
        _on_window(connection, None, 0)
        connection._on_change()
    elif isinstance(event, h2.events.PingAckReceived):
        acked = connection._pings.get(bytes(event.ping_data or b""))
        if acked is not None:
            acked.set()
    elif isinstance(event, h2.events.ConnectionTerminated):
        _on_goaway(connection, event)


def _on_reset(
    connection: H2Connection, event: h2.events.StreamReset, stream: H2WebSocketStream | None
) -> None:
    if stream is None:
        return
    del connection._streams[stream.stream_id]
    code = int(event.error_code or 0)
    stream._break(
        StreamReset(
            f"the server reset stream {stream.stream_id} ({code_name(code)})",
            stream_id=stream.stream_id,
            error_code=code,
        )
    )
    connection._on_change()


def _on_window(
    connection: H2Connection, stream: H2WebSocketStream | None, stream_id: int | None
) -> None:
    targets: Iterable[H2WebSocketStream] = (
        list(connection._streams.values()) if not stream_id else [] if stream is None else [stream]
    )
    for each in targets:
        each._window_opened()


def _on_goaway(connection: H2Connection, event: h2.events.ConnectionTerminated) -> None:
    last = int(event.last_stream_id or 0)
    code = int(event.error_code or 0)
    connection._goaway = last
    for sid in [sid for sid in connection._streams if sid > last]:
        stream = connection._streams.pop(sid)
        stream._break(
            StreamRefused(
                f"the server sent GOAWAY ({code_name(code)}, last stream {last}):"
                f" stream {sid} was not processed",
                stream_id=sid,
                error_code=code,
                last_stream_id=last,
            )
        )
    # h2 4.x moves its connection state machine to CLOSED on any GOAWAY and refuses
    # every later frame, so the streams the server did process cannot go on either.
    connection._fail(
        "goaway",
        f"the server sent GOAWAY ({code_name(code)}, last stream {last})",
        error_code=code,
    )


def code_name(code: int) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"error code {code:#x}"
