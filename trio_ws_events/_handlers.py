"""The multicast event object behind ``ws.on_open``, ``ws.on_message`` and the others."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeGuard, TypeVar, TypeVarTuple, overload

if TYPE_CHECKING:
    from typing import Self

__all__ = ["EventHook", "EventSlot"]

H = TypeVar("H", bound=Callable[..., Any])
#: The instance a slot is read from: its handlers receive that instance, typed as such.
W = TypeVar("W")
#: What a handler receives after the instance (``str`` for on_message, ``int, str`` for on_closed).
Args = TypeVarTuple("Args")


class EventHook(Generic[H]):
    """An ordered list of handlers for one event, in the style of a C# ``event``.

    ``hook += handler`` registers, ``hook -= handler`` unregisters the most recent registration
    of that handler, and ``@hook`` registers the decorated function and returns it unchanged.
    A handler may be registered more than once; it then runs once per registration.
    Handlers may be plain functions or ``async def`` functions.
    """

    __slots__ = ("_handlers", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        # A tuple (the empty one is shared): a hook nobody registered on holds nothing.
        self._handlers: tuple[H, ...] = ()

    def __iadd__(self, handler: H) -> Self:
        if not callable(handler):
            raise TypeError(f"{self.name} handlers must be callable, got {type(handler).__name__}")
        # A fresh tuple, so that a dispatch already iterating keeps the one it started with.
        self._handlers = (*self._handlers, handler)
        return self

    def __isub__(self, handler: H) -> Self:
        for index in range(len(self._handlers) - 1, -1, -1):
            if self._handlers[index] == handler:
                self._handlers = self._handlers[:index] + self._handlers[index + 1 :]
                return self
        raise ValueError(f"{handler!r} is not registered on {self.name}")

    def __call__(self, handler: H) -> H:
        """Register ``handler`` and return it, so that the hook works as a decorator."""
        self += handler
        return handler

    def __iter__(self) -> Iterator[H]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)

    def __bool__(self) -> bool:
        return bool(self._handlers)

    def __repr__(self) -> str:
        return f"<EventHook {self.name} with {len(self._handlers)} handler(s)>"

    def clear(self) -> None:
        """Unregister every handler."""
        self._handlers = ()


def must_await(result: object) -> TypeGuard[Awaitable[object]]:
    """The one rule of every dispatch: a handler's result is awaited when it is awaitable.

    A coroutine, a ``Future``-like object or anything ``inspect.isawaitable`` accepts;
    ``None`` and any other value are ignored. The connection's inline dispatch tests
    ``result is not None`` first, so that a plain function's handler costs no call here.
    """
    return inspect.isawaitable(result)


async def run_handlers(handlers: Sequence[Callable[..., object]], *args: object) -> None:
    """Call each handler in order with ``args``, awaiting the ones that return an awaitable.

    Exceptions propagate to the caller. The terminal events use it as it is; the other
    events are dispatched inline by the connection (same rule, ``must_await``), which
    also tracks time spent awaiting and turns a raising handler into a 1011.
    """
    for handler in handlers:
        result = handler(*args)
        if result is not None and must_await(result):
            await result


class EventSlot(Generic[*Args]):
    """A descriptor that gives each instance its own ``EventHook``.

    It lets ``ws.on_message += f`` work (Python stores the result of ``+=`` back into the
    attribute) while refusing ``ws.on_message = f``, which would silently drop every handler
    registered so far.

    The type parameters are what a handler receives after the instance: a class declares
    ``on_closed: EventSlot[int, str] = EventSlot()``, and reading ``obj.on_closed`` gives an
    ``EventHook`` of ``handler(obj, code, reason)`` where ``obj`` has the type it is read from.
    So any class that declares slots this way (``WebSocket``, a subclass, another client) has
    handlers typed with its own type, and a type checker sees ``lambda ws: ws.snd("x")`` fail.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name
        self._attr = "_hook_" + name

    @overload
    def __get__(self, instance: None, owner: type) -> Self: ...
    @overload
    def __get__(self, instance: W, owner: type) -> EventHook[Callable[[W, *Args], object]]: ...
    def __get__(self, instance: object, owner: type) -> Self | EventHook[Any]:
        if instance is None:
            return self
        hook: EventHook[Any] | None = instance.__dict__.get(self._attr)
        if hook is None:
            hook = EventHook(self._name)
            instance.__dict__[self._attr] = hook
        return hook

    # Typed like __get__: mypy checks ``ws.on_x += handler`` against the type __set__ takes.
    def __set__(self, instance: W, value: EventHook[Callable[[W, *Args], object]]) -> None:
        if value is not instance.__dict__.get(self._attr):
            raise AttributeError(
                f"cannot assign to {self._name}: register handlers with "
                f"'ws.{self._name} += handler' or the '@ws.{self._name}' decorator"
            )
