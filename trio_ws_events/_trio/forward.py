"""How a [`ReconnectingWebSocket`][] hears each attempt: the attempt's message events, forwarded
to the owner's hooks with the owner as the first argument.

Handlers registered once on the reconnecting client serve every attempt: each new WebSocket
gets one forwarding handler per event, which runs the owner's current handlers in order, with
the one dispatch rule (``must_await``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._handlers import EventHook, must_await, run_handlers
from .._typing import FrameHandler

if TYPE_CHECKING:
    from .._reconnecting import ReconnectingWebSocket
    from .._websocket import WebSocket

__all__ = ["fan_out", "forward_messages"]


class _LinkedHook(EventHook[FrameHandler[Any]]):
    """The ``on_incomplete_frame`` of one attempt: truthy while the reconnecting client's is.

    A WebSocket streams messages piece by piece only while its hook has handlers; linking the
    truth value lets a handler registered on the reconnecting client mid-connection count at
    once, as it does on a WebSocket.
    """

    def __init__(self, source: EventHook[FrameHandler[Any]], forward: FrameHandler[Any]) -> None:
        super().__init__(source.name)
        self._source = source
        self._handlers = (forward,)

    def __bool__(self) -> bool:
        return bool(self._source)


def forward_messages(ws: WebSocket, owner: ReconnectingWebSocket) -> None:
    """Register on ``ws`` the forwarders of every message event to ``owner``'s hooks.

    ``on_open`` and the terminal events are the loop's own: they change its state first.
    """
    ws.on_message += _forwarder(owner, owner.on_message)
    ws.on_binary += _forwarder(owner, owner.on_binary)
    frames = owner.on_incomplete_frame
    ws.__dict__["_hook_on_incomplete_frame"] = _LinkedHook(frames, _forwarder(owner, frames))
    ws.on_ping += _forwarder(owner, owner.on_ping)
    ws.on_pong += _forwarder(owner, owner.on_pong)


def fan_out(
    owner: ReconnectingWebSocket, hook: EventHook[Any], args: tuple[object, ...]
) -> Awaitable[None] | None:
    """Call ``hook``'s handlers with ``owner`` and ``args``; async only if one of them is.

    Plain handlers run at once; from the first that returns an awaitable on, the rest run
    in the returned awaitable, in order, so the connection awaits them as one handler.
    """
    handlers = hook._handlers
    for index, handler in enumerate(handlers):
        result = handler(owner, *args)
        if result is not None and must_await(result):
            return _finish(result, handlers[index + 1 :], owner, args)
    return None


def _forwarder(
    owner: ReconnectingWebSocket, hook: EventHook[Any]
) -> Callable[..., Awaitable[None] | None]:
    def forward(ws: WebSocket, *args: object) -> Awaitable[None] | None:
        return fan_out(owner, hook, args)

    forward.__qualname__ = f"ReconnectingWebSocket.{hook.name}"
    return forward


async def _finish(
    first: Awaitable[object],
    rest: Sequence[Any],
    owner: ReconnectingWebSocket,
    args: tuple[object, ...],
) -> None:
    await first
    await run_handlers(rest, owner, *args)
