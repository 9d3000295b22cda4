"""Pins the private wsproto internals we rely on, so a new release fails here, loudly."""

from __future__ import annotations

import struct

import pytest
import wsproto
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection
from wsproto.frame_protocol import FrameProtocol, ParseFailed

from trio_ws_events._wsproto_compat import _process_close, install_close_check, peer_may_send


def test_wsproto_private_names_still_exist() -> None:
    """Connection._proto is a FrameProtocol with a _process_close method (wsproto 1.2-1.3)."""
    assert wsproto.__version__.startswith(("1.2", "1.3")), (
        f"wsproto {wsproto.__version__} is outside the tested range: re-check _wsproto_compat"
    )
    connection = Connection(ConnectionType.CLIENT)
    assert isinstance(connection._proto, FrameProtocol), "wsproto moved Connection._proto"
    assert callable(getattr(connection._proto, "_process_close", None)), (
        "wsproto removed FrameProtocol._process_close"
    )


def test_install_close_check_needs_an_open_connection() -> None:
    """install_close_check on a connection without its frame layer fails clearly."""
    with pytest.raises(AttributeError):
        install_close_check(WSConnection(ConnectionType.CLIENT))


def _frame(payload: bytes) -> object:
    from wsproto.frame_protocol import Frame, Opcode

    return Frame(Opcode.CLOSE, payload, True, True)


@pytest.mark.parametrize("code", [1000, 1003, 1007, 1012, 1013, 1014, 3000, 4999])
def test_close_codes_a_peer_may_send(code: int) -> None:
    """Codes of the IANA registry, 1014 included (wsproto alone refuses it), are accepted."""
    assert peer_may_send(code)
    frame = _process_close(_frame(struct.pack("!H", code) + b"why"))  # type: ignore[arg-type]
    assert frame.payload == (code, "why")


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])
def test_close_codes_a_peer_may_not_send(code: int) -> None:
    """Reserved and local-only codes from a peer are a protocol error (1002)."""
    assert not peer_may_send(code)
    with pytest.raises(ParseFailed) as info:
        _process_close(_frame(struct.pack("!H", code)))  # type: ignore[arg-type]
    assert info.value.code == 1002


def test_close_reason_must_be_utf8() -> None:
    """An invalid UTF-8 reason is 1007; a 1-byte payload is 1002; empty means 1005."""
    with pytest.raises(ParseFailed) as info:
        _process_close(_frame(b"\x03\xe8\xff"))  # type: ignore[arg-type]
    assert info.value.code == 1007
    with pytest.raises(ParseFailed) as info:
        _process_close(_frame(b"\x03"))  # type: ignore[arg-type]
    assert info.value.code == 1002
    assert _process_close(_frame(b"")).payload == (1005, "")  # type: ignore[arg-type]
