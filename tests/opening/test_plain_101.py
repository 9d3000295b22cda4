"""The plain 101 read without h11 (issue 18, W4): it must read every answer as h11 does.

A ``101`` whose head arrives whole in one read and is written the plain way is parsed by
``handshake._plain_101``; anything else goes to h11. Each plain answer is fed twice, whole
(the plain reader) and byte by byte (h11, since the head is never whole in one read), and
the two answers must be equal; each unusual one must reach h11.
"""

from __future__ import annotations

import pytest
from peers.raw_server import Opcode, build_frame

from trio_ws_events._sansio.handshake import Accepted, ClientHandshake, HandshakeError

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT_LINE = b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
FRAME = build_frame(Opcode.TEXT, b"hello")


def handshake() -> ClientHandshake:
    """A handshake with the fixed key, offering a subprotocol and an extension."""
    hs = ClientHandshake(
        host="example.com",
        target="/",
        key=KEY,
        protocols=["chat"],
        extensions="permessage-deflate",
    )
    hs.request()
    return hs


def head(*lines: bytes, status: bytes = b"HTTP/1.1 101 Switching Protocols") -> bytes:
    return b"\r\n".join([status, *lines]) + b"\r\n\r\n"


UPGRADE = (b"Upgrade: websocket", b"Connection: Upgrade", ACCEPT_LINE)

PLAIN = {
    "usual": head(*UPGRADE),
    "no reason phrase": head(*UPGRADE, status=b"HTTP/1.1 101"),
    "empty reason phrase": head(*UPGRADE, status=b"HTTP/1.1 101 "),
    "reason with a tab and latin-1": head(*UPGRADE, status=b"HTTP/1.1 101 Sw\titch \xe9"),
    "spaces and tabs around values": head(
        b"Upgrade:\t websocket \t", b"Connection:Upgrade", ACCEPT_LINE + b"  "
    ),
    "names in any case": head(
        b"UPGRADE: websocket", b"connection: Upgrade", ACCEPT_LINE.replace(b"Accept", b"ACCEPT")
    ),
    "empty and inner-spaced values": head(*UPGRADE, b"X-Empty:", b"X-Words: a  b\tc"),
    "obs-text value": head(*UPGRADE, b"X-Name: Ren\xe9e \xff"),
    "subprotocol and extensions": head(
        *UPGRADE,
        b"Sec-WebSocket-Protocol: chat",
        b"Sec-WebSocket-Extensions: permessage-deflate",
        b"Sec-WebSocket-Extensions: ",
    ),
    "frames after the head": head(*UPGRADE) + FRAME + FRAME,
}


def pieces(data: bytes) -> list[bytes]:
    """``data`` byte by byte up to the end of its (last) head, then the rest in one piece
    with that last byte: how h11 gets the frames after the head as trailing data."""
    end = data.rindex(b"\r\n\r\n") + 3 if b"\r\n\r\n" in data else len(data) - 1
    return [data[i : i + 1] for i in range(end)] + [data[end:]]


def answer_of(hs: ClientHandshake, *chunks: bytes) -> Accepted | str:
    """The answer to ``chunks``, or the HandshakeError's message."""
    try:
        for chunk in chunks:
            hs.receive_data(chunk)
            answer = hs.next_answer()
    except HandshakeError as exc:
        return f"HandshakeError: {exc}"
    assert isinstance(answer, Accepted)
    return answer


@pytest.mark.parametrize("data", PLAIN.values(), ids=PLAIN.keys())
def test_plain_101_reads_as_h11_does(data: bytes) -> None:
    """A plain 101 read whole, without h11, gives the answer h11 gives for it."""
    plain, by_h11 = handshake(), handshake()
    whole = answer_of(plain, data)
    assert plain._h11 is None  # the plain reader ran
    split = answer_of(by_h11, *pieces(data))
    assert by_h11._h11 is not None
    assert isinstance(whole, Accepted)
    assert whole == split


UNUSUAL = {
    "folded header": (head(*UPGRADE, b"X-Fold: a", b" b"), "accepted"),
    "bare line feeds": (head(*UPGRADE).replace(b"\r\n", b"\n"), "accepted"),
    "content-length": (head(*UPGRADE, b"Content-Length: 0"), "accepted"),
    "bad content-length": (head(*UPGRADE, b"Content-Length: x"), "not valid HTTP/1.1"),
    "control character": (head(*UPGRADE, b"X-Ctl: a\x01b"), "accepted"),
    "space before the colon": (head(*UPGRADE, b"X-Bad : a"), "not valid HTTP/1.1"),
    "HTTP/1.0": (head(*UPGRADE, status=b"HTTP/1.0 101 OK"), "HTTP/1.1 or higher"),
    "100 Continue first": (b"HTTP/1.1 100 Continue\r\n\r\n" + head(*UPGRADE), "accepted"),
    "a reason with a line feed": (head(*UPGRADE, status=b"HTTP/1.1 101 a\nb"), "not valid"),
}


@pytest.mark.parametrize(("data", "outcome"), UNUSUAL.values(), ids=UNUSUAL.keys())
def test_unusual_101_is_read_by_h11(data: bytes, outcome: str) -> None:
    """Whatever is not a plain 101 goes to h11 whole, which accepts it or says why not."""
    hs = handshake()
    answer = answer_of(hs, data)
    assert hs._h11 is not None
    if outcome == "accepted":
        assert isinstance(answer, Accepted)
        assert answer == answer_of(handshake(), *pieces(data))
    else:
        assert isinstance(answer, str)
        assert outcome in answer


def test_plain_101_split_over_two_reads_is_read_by_h11() -> None:
    """A head not whole in the first read is h11's, and the second read completes it."""
    data = head(*UPGRADE) + FRAME
    hs = handshake()
    hs.receive_data(data[:20])
    assert hs.next_answer() is None
    hs.receive_data(data[20:])
    answer = hs.next_answer()
    assert hs._h11 is not None
    assert isinstance(answer, Accepted)
    assert answer.trailing == FRAME
