"""The multicast event hook: +=, -=, decorator, order, and protection against assignment."""

from __future__ import annotations

import types
from collections.abc import Callable, Generator
from typing import Any

import pytest
import trio
from recorder import run_to_end

from trio_ws_events import EventHook, WebSocket


def test_hook_registers_in_order_and_decorator_returns_function() -> None:
    """Handlers keep registration order; the decorator form registers and returns the function."""
    ws = WebSocket("ws://127.0.0.1:9/")
    calls: list[str] = []

    def first(ws: object, message: str) -> None:
        calls.append("first")

    ws.on_message += first

    @ws.on_message
    def second(ws: object, message: str) -> None:
        calls.append("second")

    assert second.__name__ == "second"
    assert list(ws.on_message) == [first, second]
    assert len(ws.on_message) == 2


def test_hook_unregister_removes_latest_registration() -> None:
    """-= removes one registration (the most recent) of that handler."""
    hook: EventHook[Callable[..., object]] = EventHook("on_message")
    a, b = print, repr
    hook += a
    hook += b
    hook += a
    hook -= a
    assert list(hook) == [a, b]
    hook -= a
    hook -= b
    assert not hook


def test_hook_unregister_unknown_raises() -> None:
    """Removing a handler that is not registered says so."""
    ws = WebSocket("ws://127.0.0.1:9/")
    with pytest.raises(ValueError, match="not registered on on_closed"):
        ws.on_closed -= print


def test_hook_rejects_non_callable() -> None:
    """Registering something that cannot be called is a TypeError naming the event."""
    ws = WebSocket("ws://127.0.0.1:9/")
    with pytest.raises(TypeError, match="on_open handlers must be callable"):
        ws.on_open += "not a function"  # type: ignore[arg-type]


def test_assigning_a_hook_is_refused() -> None:
    """ws.on_message = f would silently drop handlers, so it raises and points at +=."""
    ws = WebSocket("ws://127.0.0.1:9/")
    with pytest.raises(AttributeError, match=r"ws\.on_message \+= handler"):
        ws.on_message = print  # type: ignore[assignment]


def test_hooks_are_per_instance() -> None:
    """Two instances never share handlers."""
    one, two = WebSocket("ws://127.0.0.1:9/"), WebSocket("ws://127.0.0.1:9/")
    one.on_open += print
    assert len(one.on_open) == 1
    assert len(two.on_open) == 0
    assert isinstance(WebSocket.on_open, object)


async def test_handlers_generator_coroutine_is_awaited_by_every_dispatch(echo_url: str) -> None:
    """A ``types.coroutine`` handler is awaited by the inline dispatch and the terminal one."""
    seen: list[object] = []

    @types.coroutine
    def on_message(ws: WebSocket, message: str) -> Generator[Any, None, None]:
        yield from trio.lowlevel.checkpoint().__await__()  # noqa: ASYNC105
        seen.append(message)
        ws.close()

    @types.coroutine
    def on_closed(ws: WebSocket, code: int, reason: str) -> Generator[Any, None, None]:
        yield from trio.lowlevel.checkpoint().__await__()  # noqa: ASYNC105
        seen.append(code)

    ws = WebSocket(echo_url)
    ws.on_open += lambda ws: ws.send("hi")
    ws.on_message += on_message
    ws.on_closed += on_closed
    await run_to_end(ws)
    assert seen == ["hi", 1000]
