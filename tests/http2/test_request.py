"""The extended CONNECT's headers and the meaning of its response: sans-I/O, no trio."""

from __future__ import annotations

from pathlib import Path

import pytest

import trio_ws_events._h2._request as request_module
from trio_ws_events._h2._request import (
    MAX_REJECT_BODY,
    Accepted,
    Rejected,
    connect_headers,
    read_response,
)


def test_connect_headers_carry_rfc8441_pseudo_headers_first() -> None:
    """:method CONNECT, :protocol websocket, :scheme, :path, :authority, then version 13."""
    headers = connect_headers(
        scheme="https",
        authority="example.com:443",
        path="/chat?x=1",
        subprotocols=["chat", "superchat"],
        extensions="permessage-deflate; client_max_window_bits",
        origin="https://example.com",
        extra_headers=[("X-Token", "abc")],
    )
    assert headers == [
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "https"),
        (":path", "/chat?x=1"),
        (":authority", "example.com:443"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-protocol", "chat, superchat"),
        ("sec-websocket-extensions", "permessage-deflate; client_max_window_bits"),
        ("origin", "https://example.com"),
        ("x-token", "abc"),
    ]


@pytest.mark.parametrize("name", ["Upgrade", "connection", "Sec-WebSocket-Key", ":path", "host"])
def test_connect_headers_refuse_reserved_header(name: str) -> None:
    """A header HTTP/2 forbids or the extended CONNECT writes itself is refused."""
    with pytest.raises(ValueError, match="set by the extended CONNECT"):
        connect_headers(scheme="https", authority="a:1", path="/", extra_headers=[(name, "x")])


@pytest.mark.parametrize(
    ("name", "value"), [("bad name", "x"), ("", "x"), ("x-ok", "line\r\nbreak")]
)
def test_connect_headers_refuse_invalid_field(name: str, value: str) -> None:
    """A header name with spaces, an empty one, or a value with CR LF is refused."""
    with pytest.raises(ValueError, match="not a valid header field"):
        connect_headers(scheme="https", authority="a:1", path="/", extra_headers=[(name, value)])


def test_connect_headers_refuse_bad_scheme_and_path() -> None:
    """Only https/http schemes and paths starting with / are allowed."""
    with pytest.raises(ValueError, match="scheme must be"):
        connect_headers(scheme="wss", authority="a:1", path="/")
    with pytest.raises(ValueError, match="path must start with"):
        connect_headers(scheme="https", authority="a:1", path="chat")


def test_read_response_200_accepts_with_chosen_subprotocol() -> None:
    """A 200 opens the stream with the chosen subprotocol and the extensions answer."""
    answer = read_response(
        [
            (":status", "200"),
            ("sec-websocket-protocol", "chat"),
            ("sec-websocket-extensions", "permessage-deflate"),
        ],
        ["chat"],
    )
    assert answer == Accepted(
        "chat",
        "permessage-deflate",
        [("sec-websocket-protocol", "chat"), ("sec-websocket-extensions", "permessage-deflate")],
    )


def test_read_response_200_with_unoffered_subprotocol_is_invalid() -> None:
    """A server choosing a subprotocol that was never offered is an invalid response."""
    with pytest.raises(ValueError, match="not offered"):
        read_response([(":status", "200"), ("sec-websocket-protocol", "other")], ["chat"])


def test_read_response_other_status_rejects_with_bounded_body() -> None:
    """Any status but 200 is a rejection; its body is cut to MAX_REJECT_BODY."""
    answer = read_response([(":status", "403"), ("x-why", "no")], [], b"x" * (MAX_REJECT_BODY + 10))
    assert answer == Rejected(403, [("x-why", "no")], b"x" * MAX_REJECT_BODY)


def test_read_response_without_status_is_invalid() -> None:
    """A response with no :status cannot be read."""
    with pytest.raises(ValueError, match="no valid :status"):
        read_response([("x", "y")], [])


def test_request_module_imports_no_trio() -> None:
    """The extended CONNECT's decisions stay sans-I/O: the module imports neither trio nor h2."""
    source = Path(request_module.__file__).read_text(encoding="utf-8")
    assert "import trio" not in source
    assert "import h2" not in source


@pytest.mark.parametrize("name", ["", "a b", "x,y", "é"])
def test_connect_headers_refuse_subprotocol_not_a_token(name: str) -> None:
    """A subprotocol must be an HTTP token."""
    with pytest.raises(ValueError, match="is not an HTTP token"):
        connect_headers(scheme="https", authority="a:1", path="/", subprotocols=[name])
