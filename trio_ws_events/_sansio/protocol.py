"""The client side of the WebSocket framing protocol (RFC 6455, RFC 7692), without I/O.

``ClientProtocol`` turns bytes from the server into events and messages into bytes for
the server. It is written for the hot path: frames are parsed straight out of each read (no
buffer copies for frames that arrive whole), a whole message needs no reassembly, a large
one is joined once, and masking runs in C (``websockets.speedups``) when it is available.

Every violation by the server becomes a final ``Failure`` event carrying the close code
to send (1002, 1007, 1009); the events before it in the same read come first.
"""

from __future__ import annotations

import codecs
import struct
import zlib
from typing import Final

from .._events import Frame
from .control import ControlFrames
from .deflate import Deflater, Inflater
from .events import BinaryMessage, Buffer, Failure, ProtocolEvent, TextMessage, Wire
from .frames import CHUNK_SIZE, MAX_CONTROL_PAYLOAD, OP_BINARY, OP_CONT, OP_TEXT, FrameError
from .framing import FrameWriter
from .reassembly import Parts

__all__ = ["BATCH_FRAMES", "EXACT_READ_MAX", "HEADER_READ", "ClientProtocol"]

#: The most frames one call of ``ClientProtocol.receive`` parses: the owner gets control
#: back (to checkpoint, to write pongs) after so many, whatever one read holds.
BATCH_FRAMES: Final = 1024
# One call of ``ClientProtocol.receive`` stops once it has inflated ``CHUNK_SIZE`` bytes: a
# read packed with compressed messages is inflated as they are handed on, not all at once.
# While streaming, ``CHUNK_SIZE`` is also the largest piece a compressed message is inflated
# into, and the largest compressed message that still fires whole (``on_message``).

#: The largest frame whose payload ``read_size`` asks for whole (what is left of it), so
#: that it needs no join. The owner's read allocates that much before the kernel fills it:
#: it is bounded by this and by ``max_message_size`` (checked at the frame's header), never
#: by the length the peer declares alone.
EXACT_READ_MAX: Final = 4 * 2**20
#: ``read_size`` after a large frame ended with a read: the longest header a server sends
#: (2 bytes, 8 of length, no mask), so that the next read holds no payload to join.
HEADER_READ: Final = 10

_unpack_h = struct.Struct("!H").unpack_from
_unpack_q = struct.Struct("!Q").unpack_from


#: A violation found while parsing: the batch ends with a ``Failure`` carrying its code.
_Fail = FrameError


class ClientProtocol:
    """Parses the server's frames and builds the client's, for one connection.

    Args:
        max_message_size: the largest message handed over whole, in bytes (inflated size
            with compression), ``None`` for no limit; a larger reassembled message is a 1009
            failure, a larger streamed one comes in pieces.
        inflater, deflater: the permessage-deflate codecs when it was negotiated.
        max_fragment_size: when set, outgoing messages longer than this are split into
            frames of at most this many payload bytes.

    The owner sets ``streaming`` before feeding data: while it is true, a message that
    does not arrive whole, or that is larger than ``max_message_size``, is delivered as
    [`Frame`][] pieces instead of being reassembled.

    ``receive`` returns the events of one *batch*: it stops after ``BATCH_FRAMES``
    frames, or once ``CHUNK_SIZE`` bytes were inflated, keeping the rest of the bytes
    for later (``backlog``). What one call holds is thus bounded by what we choose, not
    by what the peer packed into a read, and the owner gets control back between batches.
    """

    __slots__ = (
        "_at_boundary",
        "_buf",
        "_decoder",
        "_final_chunk",
        "_frame_fin",
        "_frame_left",
        "_inflated",
        "_inflater",
        "_inflating",
        "_large",
        "_max_size",
        "_msg_compressed",
        "_msg_opcode",
        "_msg_size",
        "_msg_streaming",
        "_msg_whole",
        "_parts",
        "_pos",
        "_whole_read",
        "backlog",
        "bytes_received",
        "closed",
        "control",
        "framer",
        "messages_received",
        "pongs",
        "streaming",
    )

    def __init__(
        self,
        *,
        max_message_size: int | None = 2**20,
        inflater: Inflater | None = None,
        deflater: Deflater | None = None,
        max_fragment_size: int | None = None,
    ) -> None:
        self._buf: Buffer = b""
        self._pos = 0  # where parsing resumes in _buf when a batch stopped early
        self._max_size = max_message_size
        self._inflater = inflater
        self._frame_left = 0
        self._frame_fin = False
        self._large = False  # the last frame that straddled reads was of CHUNK_SIZE or more
        self._at_boundary = False  # the last read ended exactly where a large frame did
        self._whole_read = False  # the current frame is large, and read to its end at once
        self._msg_opcode = 0
        self._msg_compressed = False
        self._msg_streaming = False
        self._msg_whole = False  # the message's one frame came whole in one read
        self._parts = Parts()  # of a reassembled message
        self._msg_size = 0
        self._decoder: codecs.IncrementalDecoder | None = None
        self._inflating = False  # the inflater holds output of the current frame still
        self._final_chunk = False  # the compressed piece being inflated ends its message
        self._inflated = 0  # inflated bytes the current batch's events hold
        #: Builds the outgoing frames: ``framer.message(data)``, ``framer.piece(...)``.
        self.framer = FrameWriter(deflater, max_fragment_size)
        #: Totals of data messages and their payload bytes (inflated), for ``ws.stats``.
        self.messages_received = 0
        self.bytes_received = 0
        #: Deliver unfinished messages as pieces (set by the owner).
        self.streaming = False
        #: Control frames both ways and the pong policy.
        self.control = ControlFrames(self.framer)
        #: The pongs owed to the server, bounded; ``pong_frames`` answers them.
        self.pongs = self.control.pongs
        #: True once a close frame or a violation ended the input: further data is ignored.
        self.closed = False
        #: True when the last ``receive`` stopped at the end of a batch with input left:
        #: handle its events, then call ``receive(b"")`` before feeding more bytes.
        self.backlog = False

    # ------------------------------------------------------------------ receiving

    @property
    def keeps_reads(self) -> bool:
        """Whether reads are payload of large frames (of ``CHUNK_SIZE`` or more), kept as
        they are (no copy): the owner then reads into fresh ``bytes``, not into a buffer it
        reuses. True from such a frame's header until a smaller frame straddles a read."""
        return self._large

    @property
    def reads_whole(self) -> bool:
        """Whether ``read_size`` is the rest of one large frame's payload, read to its end at
        once (``EXACT_READ_MAX`` bytes at most): the owner may wait until that much has
        arrived before it reads, so that the payload is one ``bytes``, not parts to join."""
        return (
            self._large
            and self._whole_read
            and self._frame_left > 0
            and not self._msg_streaming
            and not self._msg_compressed
        )

    @property
    def read_size(self) -> int:
        """How many bytes the owner's next read should ask for: ``CHUNK_SIZE``, except
        around the payload of a large frame (``keeps_reads``) of a message neither
        streamed nor compressed.

        - Within it, if the frame is of ``EXACT_READ_MAX`` bytes at most: what is left of
          it. The read ends where the frame does, and a payload that is all there arrives
          as the one ``bytes`` handed on, with no join (the kernel writes straight into
          it). A larger frame is joined from its reads anyway: ``CHUNK_SIZE`` at a time.
        - Right after it, when a read ended exactly there: ``HEADER_READ`` bytes, so that
          the next large frame's payload starts a read of its own.

        What is asked for is allocated before it is read; it is at most ``EXACT_READ_MAX``
        and at most ``max_message_size``, the frame's size having been checked at its
        header.
        """
        if not self._large or self._msg_streaming or self._msg_compressed:
            return CHUNK_SIZE
        if self._frame_left:
            return self._frame_left if self._whole_read else CHUNK_SIZE
        return HEADER_READ if self._at_boundary and not self._buf else CHUNK_SIZE

    def receive(self, data: Buffer) -> list[ProtocolEvent]:
        """Parse ``data`` (the next bytes from the server) and return one batch of events.

        Args:
            data: the next bytes, or ``b""`` to go on with the ``backlog``. A ``memoryview``
                (of a buffer the owner reuses) must stay valid until the backlog is handled;
                whatever outlives that is copied out of it.

        Returns:
            The events completed, in order; when ``backlog`` is then true, more are
            waiting in what was already received.
        """
        # Kept as one function on purpose (about 120 lines): the frame loop below is the
        # hot path of every received message, and one more helper call per frame measured
        # 17 ns of 403 ns per 16-byte message (4%). The rare cases (control frames,
        # fragments, compression) are helpers; the common one stays inline.
        events: list[ProtocolEvent] = []
        self.backlog = False
        self._at_boundary = False
        if self.closed:
            return events
        buf = self._buf
        pos = self._pos
        if not buf:
            buf = data
        elif data:
            buf = bytes(buf[pos:]) + data
            pos = 0
        end = len(buf)
        limit = self._max_size
        count = BATCH_FRAMES
        self._inflated = 0
        try:
            if self._inflating and self._inflate(events):
                pos = self._stop(buf, pos)
                return events
            while pos < end:
                if not count:
                    pos = self._stop(buf, pos)
                    return events
                count -= 1
                if self._frame_left:
                    take = min(self._frame_left, end - pos)
                    # A read that is all payload is used as it is, without a copy.
                    if type(buf) is bytes:
                        chunk = buf if pos == 0 and take == end else buf[pos : pos + take]
                    else:  # a view of the owner's read buffer: copied out
                        chunk = bytes(buf[pos : pos + take])
                    pos += take
                    self._frame_left -= take
                    if pos == end and not self._frame_left and self._large:
                        self._at_boundary = True
                    if self._data(chunk, self._frame_fin and not self._frame_left, events):
                        pos = self._stop(buf, pos)
                        return events
                    continue
                if end - pos < 2:
                    break
                b0 = buf[pos]
                b1 = buf[pos + 1]
                length = b1 & 0x7F
                start = pos + 2
                if length == 126:
                    if end - pos < 4:
                        break
                    (length,) = _unpack_h(buf, start)
                    start += 2
                    if length < 126:
                        raise _Fail(1002, "frame length not minimally encoded")
                elif length == 127:
                    if end - pos < 10:
                        break
                    (length,) = _unpack_q(buf, start)
                    start += 8
                    if length < 65536 or length >> 63:
                        raise _Fail(1002, "invalid 64-bit frame length")
                if b1 & 0x80:
                    raise _Fail(1002, "the server sent a masked frame")
                opcode = b0 & 0x0F
                if opcode >= 8:
                    if end - start < length:
                        if length > MAX_CONTROL_PAYLOAD:
                            raise _Fail(1002, f"control frame of {length} bytes (max 125)")
                        break
                    payload = bytes(buf[start : start + length])
                    pos = start + length
                    if self.control.received(b0, opcode, length, payload, events):
                        self.closed = True
                        self._buf = b""
                        break
                    continue
                fin = b0 & 0x80
                if (
                    fin
                    and not (b0 & 0x70)
                    and opcode
                    and not self._msg_opcode
                    and end - start >= length
                    and (limit is None or length <= limit)
                ):
                    # The common case: a whole, unfragmented, uncompressed message.
                    pos = start + length
                    body = buf[start:pos]
                    self.messages_received += 1
                    self.bytes_received += length
                    if opcode == OP_TEXT:
                        try:
                            # A view (of the owner's read buffer) is decoded as it is.
                            text = body.decode() if type(body) is bytes else str(body, "utf-8")
                        except UnicodeDecodeError as exc:
                            raise _Fail(1007, f"invalid UTF-8 in a text message: {exc}") from None
                        events.append(TextMessage(text))
                    elif opcode == OP_BINARY:
                        events.append(BinaryMessage(body if type(body) is bytes else bytes(body)))
                    else:
                        raise _Fail(1002, f"reserved opcode {opcode:#x}")
                    continue
                pos = start
                self._frame_header(b0, opcode, length, bool(fin) and end - start >= length)
                if not length and self._data(b"", bool(fin), events):
                    pos = self._stop(buf, pos)
                    return events
        except _Fail as failure:
            self.closed = True
            self._buf = b""
            self._pos = 0
            self._inflating = False
            self._parts.clear()
            events.append(Failure(failure.code, failure.reason))
            return events
        # What is left is a frame's start (a control frame at most): kept as a small copy.
        self._buf = bytes(buf[pos:]) if pos < end and not self.closed else b""
        self._pos = 0
        return events

    def _stop(self, buf: Buffer, pos: int) -> int:
        """End the batch at ``pos``; whatever is left waits for ``receive(b"")``."""
        if pos < len(buf):
            self._buf = buf
            self._pos = pos
            self.backlog = True
        else:
            self._buf = b""
            self._pos = 0
            self.backlog = self._inflating
        return pos

    def _frame_header(self, b0: int, opcode: int, length: int, whole: bool = False) -> None:
        """Start a data frame whose payload is not (all) in the buffer, or that continues.

        ``whole``: the frame has FIN and all its payload in this read (a compressed message
        that arrived whole): while streaming it fires as a whole message when it inflates
        to at most ``max_message_size`` and ``CHUNK_SIZE``.
        """
        rsv = b0 & 0x70
        if opcode == OP_CONT:
            if not self._msg_opcode:
                raise _Fail(1002, "continuation frame with no message to continue")
            if rsv:
                raise _Fail(1002, "reserved bits set on a continuation frame")
        elif opcode in (OP_TEXT, OP_BINARY):
            if self._msg_opcode:
                raise _Fail(1002, "new message started inside a fragmented message")
            if rsv & 0x30 or (rsv and self._inflater is None):
                raise _Fail(1002, "reserved bits set without a negotiated extension")
            self._msg_opcode = opcode
            self._msg_compressed = bool(rsv)
            self._msg_streaming = self.streaming
            # Uncompressed, a whole frame over the limit only comes here while streaming.
            self._msg_whole = whole and (bool(rsv) or self._fits(length))
            self._msg_size = 0
            if opcode == OP_TEXT:
                # Streamed or not, text is decoded as it arrives: invalid UTF-8 fails at
                # once, not when the message ends (Autobahn 6.4.x).
                self._decoder = codecs.getincrementaldecoder("utf-8")()
        else:
            raise _Fail(1002, f"reserved opcode {opcode:#x}")
        if (
            not self._msg_streaming
            and not self._msg_compressed
            and not self._fits(self._msg_size + length)
        ):
            self._too_big(self._msg_size + length)
        self._frame_fin = bool(b0 & 0x80)
        self._frame_left = length
        self._large = length >= CHUNK_SIZE
        self._whole_read = self._large and length <= EXACT_READ_MAX

    def _fits(self, size: int) -> bool:
        return self._max_size is None or size <= self._max_size

    def _data(self, chunk: bytes, final: bool, events: list[ProtocolEvent]) -> bool:
        """Take one piece of the current message's payload; True to end the batch here."""
        if not self._msg_compressed:
            self._deliver(chunk, final, events)
            return False
        self._final_chunk = final
        return self._inflate(events, chunk)

    def _inflate(self, events: list[ProtocolEvent], chunk: bytes | None = None) -> bool:
        """Inflate ``chunk`` (``None``: go on with the last one); True to end the batch
        (enough was inflated, or a streamed piece is still inflating).

        A reassembled message is inflated in pieces of ``CHUNK_SIZE``, joined once at
        its end: it costs twice its size at most, even when it straddles reads (zlib's own
        output buffer would add a third copy), and never more than ``max_message_size``.
        """
        inflater = self._inflater
        assert inflater is not None
        final = self._final_chunk
        try:
            if not self._msg_streaming:
                while True:
                    room = None if self._max_size is None else self._max_size - self._msg_size
                    size = CHUNK_SIZE if room is None else min(room + 1, CHUNK_SIZE)
                    out = inflater.read(size, chunk, final)
                    chunk = None
                    self._deliver(out, inflater.drained and final, events)  # checks room
                    if inflater.drained:
                        break
            elif self._msg_whole:
                self._inflate_whole(inflater, chunk, events)
            else:
                out = inflater.read(CHUNK_SIZE, chunk, final)
                self._deliver(out, inflater.drained and final, events)
        except zlib.error as exc:
            raise _Fail(1007, f"invalid compressed data: {exc}") from None
        self._inflating = not inflater.drained
        return self._inflating or self._inflated >= CHUNK_SIZE

    def _inflate_whole(
        self, inflater: Inflater, chunk: bytes | None, events: list[ProtocolEvent]
    ) -> None:
        """A compressed message that arrived whole, while streaming: whole if it is small
        enough (``max_message_size``, ``CHUNK_SIZE``), in pieces otherwise."""
        size = CHUNK_SIZE if self._max_size is None else max(1, min(self._max_size, CHUNK_SIZE))
        out = inflater.read(size, chunk, True)
        if inflater.drained:
            self._deliver(out, True, events)
            return
        more = inflater.read(CHUNK_SIZE)
        if not more and inflater.drained:  # exactly ``size`` bytes: it still fits
            self._deliver(out, True, events)
            return
        self._msg_whole = False
        self._deliver(out, False, events)
        self._deliver(more, inflater.drained, events)

    def _deliver(self, chunk: bytes, final: bool, events: list[ProtocolEvent]) -> None:
        """Hand on one piece of the current message's (inflated) payload."""
        is_text = self._msg_opcode == OP_TEXT
        size = len(chunk)
        self.bytes_received += size
        if final:
            self.messages_received += 1
        if self._msg_streaming:
            if self._msg_compressed:
                self._inflated += size
            if is_text:
                text = self._decode(chunk, final)
                if self._msg_whole:
                    events.append(TextMessage(text))
                elif text or final:
                    events.append(Frame(text, True, final))
            elif self._msg_whole:
                events.append(BinaryMessage(bytes(chunk)))
            elif chunk or final:
                events.append(Frame(bytes(chunk), False, final))
        else:
            self._msg_size += size
            if self._max_size is not None and self._msg_size > self._max_size:
                self._too_big(self._msg_size)
            if final and self._msg_compressed:
                # The whole message is now held by this batch, whatever read it began in.
                self._inflated += self._msg_size
            alone = final and not self._parts  # the usual case
            if is_text:
                text = self._decode(chunk, final)
                if alone:
                    events.append(TextMessage(text))
                elif text:
                    self._parts.keep(text)
                if final and not alone:
                    events.append(TextMessage(self._parts.joined("")))
            elif alone:
                events.append(BinaryMessage(bytes(chunk)))
            else:
                if chunk:
                    self._parts.keep(chunk)
                if final:
                    events.append(BinaryMessage(bytes(self._parts.joined(b""))))
        if final:
            self._msg_opcode = 0
            self._decoder = None

    def _decode(self, chunk: bytes, final: bool) -> str:
        assert self._decoder is not None
        try:
            return self._decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            raise _Fail(1007, f"invalid UTF-8 in a text message: {exc}") from None

    def _too_big(self, size: int) -> None:
        raise _Fail(
            1009, f"message of at least {size} bytes exceeds max_message_size={self._max_size}"
        )

    # ------------------------------------------------------------------ sending

    def ping(self, payload: bytes = b"") -> Wire:
        """A ping frame."""
        return self.control.ping(payload)

    def pong_frames(self) -> list[Wire]:
        """The frames answering every pong owed, oldest first; none is owed afterwards."""
        return self.control.pong_frames()

    def close(self, code: int | None, reason: str = "") -> Wire:
        """A close frame; ``code=None`` (or 1005) sends an empty one. No pong is owed after it."""
        return self.control.close(code, reason)
