"""The per-attempt handshake hook: the request it is shown, and running it with its checks."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from .._errors import ConnectError
from .._options import check_headers

__all__ = ["HandshakeHook", "HandshakeRequest", "check_hook", "run_hook"]


class HandshakeRequest:
    """The upgrade request about to be sent, as ``handshake_hook`` sees it.

    Built by the client before each request it sends (the first, and one per redirect
    followed); the hook changes ``headers`` in place. The headers the handshake writes
    itself (``Upgrade``, ``Connection``, ``Sec-WebSocket-*``) are not in the list and may
    not be added; everything else is the hook's to change, and is checked again afterwards
    as ``headers=`` is at construction.

    Attributes:
        headers: the request headers other than the handshake's own, as ``(name, value)``
            pairs in order: ``Origin``, ``User-Agent``, ``Authorization`` (from the URL's
            credentials) and yours, after the credentials of ``headers=`` were dropped for
            another origin. Change it in place (or assign a new list).
    """

    __slots__ = ("_redirects", "_url", "headers")

    def __init__(self, url: str, headers: list[tuple[str, str]], redirects: int) -> None:
        self._url = url
        self._redirects = redirects
        self.headers = headers

    @property
    def url(self) -> str:
        """The URL this request goes to, without credentials, query included."""
        return self._url

    @property
    def redirects(self) -> int:
        """How many redirects were followed before this request (0 for the first)."""
        return self._redirects

    def get_header(self, name: str) -> str | None:
        """The value of the first header called ``name`` (any case), or ``None``."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def set_header(self, name: str, value: str) -> None:
        """Replace every header called ``name`` (any case) with one ``name: value`` at the end."""
        self.remove_header(name)
        self.headers.append((name, value))

    def remove_header(self, name: str) -> None:
        """Remove every header called ``name`` (any case); nothing happens when there is none."""
        wanted = name.lower()
        self.headers[:] = [(key, value) for key, value in self.headers if key.lower() != wanted]

    def __repr__(self) -> str:
        # Header values are left out: they are where the credentials are.
        names = ", ".join(name for name, _ in self.headers)
        return f"<HandshakeRequest {self.url} redirects={self.redirects} headers: {names}>"


#: What ``handshake_hook=`` takes: a function of the request, sync or async, returning None.
HandshakeHook: TypeAlias = Callable[[HandshakeRequest], Awaitable[None] | None]


def check_hook(hook: object) -> HandshakeHook | None:
    """``hook`` itself when it is callable or ``None``.

    Raises:
        TypeError: it is neither.
    """
    if hook is not None and not callable(hook):
        raise TypeError(
            "handshake_hook must be a function taking a HandshakeRequest (sync or async) or "
            f"None, got {type(hook).__name__}"
        )
    return hook


async def run_hook(
    hook: HandshakeHook, request: HandshakeRequest, where: str
) -> list[tuple[str, str]]:
    """Run ``hook`` on ``request`` and return the headers it left, checked.

    Cancellation: safe; the hook is cancelled with the attempt (``connect_timeout``
    included), and nothing else is held meanwhile.

    Raises:
        ConnectError: the hook raised (chained as ``__cause__``), returned something other
            than ``None``, or left headers that ``headers=`` would refuse.
    """
    try:
        result: object = hook(request)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        raise ConnectError(
            f"handshake_hook raised {type(exc).__name__} before the request to {where}: {exc}"
        ) from exc
    if result is not None:
        raise ConnectError(
            f"handshake_hook returned a {type(result).__name__} before the request to {where}; "
            "it must return None and change request.headers in place"
        )
    try:
        return check_headers(request.headers)
    except (TypeError, ValueError) as exc:
        raise ConnectError(
            f"handshake_hook left an invalid header for the request to {where}: {exc}"
        ) from exc
