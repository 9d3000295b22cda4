"""The last steps of a connection: closing its stream, and the log record of an error end."""

from __future__ import annotations

import logging

import trio

from .._errors import WebSocketError
from .._typing import LoggerLike

__all__ = ["close_stream", "log_error_end"]


async def close_stream(stream: trio.abc.Stream) -> None:
    """Close ``stream`` at once. A plain socket closes without a checkpoint: this runs at the
    very end of the connection's task, where one more scheduler tick buys nothing."""
    if isinstance(stream, trio.SocketStream):
        stream.socket.close()
    else:
        await trio.aclose_forcefully(stream)


def log_error_end(
    logger: LoggerLike, url: str, error: WebSocketError, cancelled: bool, heard: bool
) -> None:
    """Log an end by ``error`` (its ``code`` set) of the connection to ``url`` (for logs).

    Above DEBUG, only the kind of error and the code: messages may quote payloads (a
    handler's exception text) and URLs their query strings. An error nobody will hear of
    (``heard`` false: no ``on_error``, no ``async with``, no ``async for``) is a WARNING.
    """
    if cancelled:
        # The caller's own cancellation (a cancel scope, or an exception in the nursery's
        # body, which the caller sees as a traceback): nothing to look up in on_error.
        logger.info(
            "connection to %s ended: %s, cancelled from outside (close code %d)",
            url,
            type(error).__name__,
            error.code,
        )
    else:
        logger.log(
            logging.INFO if heard else logging.WARNING,
            "connection to %s ended: %s (close code %d); register on_error for details",
            url,
            type(error).__name__,
            error.code,
        )
    logger.debug("connection to %s ended: %s", url, error)
