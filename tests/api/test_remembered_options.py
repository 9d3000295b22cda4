"""``WebSocket(...)`` checks its arguments once per set of plain values (``Options.remembered``),
and every time for anything else; what it remembers changes nothing a user can see."""

from __future__ import annotations

import ssl

import pytest

from trio_ws_events import WebSocket
from trio_ws_events._options import _REMEMBERED, REMEMBERED, Options

URL = "ws://127.0.0.1:9/"


def options_of(ws: WebSocket) -> Options:
    return ws._options


def test_the_same_plain_arguments_share_one_checked_options() -> None:
    first = WebSocket(URL, compression=None, max_message_size=None, proxy=None)
    second = WebSocket(URL, compression=None, max_message_size=None, proxy=None)
    assert options_of(second) is options_of(first)
    other = WebSocket(URL, compression=None, max_message_size=2**21, proxy=None)
    assert options_of(other) is not options_of(first)
    assert options_of(other).max_message_size == 2**21


def test_a_value_of_another_type_is_checked_again() -> None:
    """``max_redirects=True`` equals 1 and hashes like it, yet is refused after 1 was
    accepted: the types are part of what is remembered."""
    WebSocket(URL, max_redirects=1)
    with pytest.raises(TypeError, match="max_redirects must be an int, got bool"):
        WebSocket(URL, max_redirects=True)


def test_invalid_arguments_raise_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match="connect_timeout"):
            WebSocket(URL, connect_timeout=-1.0)


def test_objects_are_not_kept() -> None:
    """A dict of headers or an SSL context builds afresh, and nothing keeps them alive."""
    before = len(_REMEMBERED)
    context = ssl.create_default_context()
    a = WebSocket("wss://127.0.0.1:9/", ssl_context=context)
    b = WebSocket("wss://127.0.0.1:9/", ssl_context=context)
    assert options_of(a) is not options_of(b)
    c = WebSocket(URL, headers={"X-Trace": "1"})
    d = WebSocket(URL, headers={"X-Trace": "1"})
    assert options_of(c) is not options_of(d)
    assert len(_REMEMBERED) == before


def test_what_is_remembered_is_bounded() -> None:
    for port in range(1000, 1000 + 3 * REMEMBERED + 5):
        WebSocket(f"ws://127.0.0.1:{port}/")
        assert len(_REMEMBERED) <= REMEMBERED
    # The newest set is remembered even right after the store was emptied.
    last = WebSocket(f"ws://127.0.0.1:{1000 + 3 * REMEMBERED + 4}/")
    assert last._options is options_of(WebSocket(f"ws://127.0.0.1:{1000 + 3 * REMEMBERED + 4}/"))
