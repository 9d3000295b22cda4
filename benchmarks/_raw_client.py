"""The raw-socket reference: the loopback ceiling for a Python client.

No WebSocket library and no async framework: pre-built, masked client frames are written
to a plain socket (blocking for the sequential workloads, non-blocking with ``selectors``
for the concurrent ones), and the server's frames are parsed just enough to count whole
messages and check their type and length (W1 and W5 compare the echoed bytes too). The
opening handshake is one pre-built request; the answer is only checked for ``101``.
Nothing a real client must do is done here (no UTF-8 validation, no close-code checks,
no fragmentation): it shows what is left for the server, the kernel and Python itself.
"""

from __future__ import annotations

import contextlib
import selectors
import signal
import socket
import struct
import time
import traceback
from types import FrameType
from urllib.parse import urlsplit

from ._common import ClientFailed, Job, Meter, make_payload

_MASK_KEY = b"\x37\xfa\x21\x3d"
_CHUNK = 64 * 1024  # masking is done per chunk (a multiple of 4), small temporaries


def _header(opcode: int, size: int, masked: bool) -> bytes:
    mask_bit = 0x80 if masked else 0
    if size < 126:
        return struct.pack("!BB", 0x80 | opcode, mask_bit | size)
    if size < 1 << 16:
        return struct.pack("!BBH", 0x80 | opcode, mask_bit | 126, size)
    return struct.pack("!BBQ", 0x80 | opcode, mask_bit | 127, size)


def client_frame(payload: bytes, opcode: int) -> bytearray:
    """One masked frame, built chunk by chunk (no temporary copies of a large payload)."""
    header = _header(opcode, len(payload), masked=True) + _MASK_KEY
    frame = bytearray(len(header) + len(payload))
    frame[: len(header)] = header
    key = int.from_bytes(_MASK_KEY * (_CHUNK // 4), "little")
    for start in range(0, len(payload), _CHUNK):
        chunk = payload[start : start + _CHUNK]
        n = len(chunk)
        masked = int.from_bytes(chunk, "little") ^ (key & ((1 << (8 * n)) - 1))
        frame[len(header) + start : len(header) + start + n] = masked.to_bytes(n, "little")
    return frame


def server_frame(payload: bytes, opcode: int) -> bytes:
    return _header(opcode, len(payload), masked=False) + payload


_CLOSE_1000 = bytes(client_frame(struct.pack("!H", 1000), 0x8))
_CLOSE_REPLY = server_frame(struct.pack("!H", 1000), 0x8)


def _request(host: str, port: int, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def _check_101(response: bytes) -> None:
    if not response.startswith((b"HTTP/1.1 101 ", b"HTTP/1.0 101 ")):
        raise ClientFailed(f"handshake refused: {response[:80]!r}")


class FrameCounter:
    """Counts the complete messages in the server's byte stream without copying payloads."""

    def __init__(self, opcode: int, size: int) -> None:
        self.opcode = opcode
        self.size = size
        self.messages = 0
        self._skip = 0  # payload bytes of the current frame still to come
        self._tail = b""  # the start of a header split between two reads

    def feed(self, data: memoryview) -> None:
        pos, end = 0, len(data)
        while pos < end:
            if self._skip:
                take = min(self._skip, end - pos)
                pos += take
                self._skip -= take
                if not self._skip:
                    self.messages += 1
                continue
            if self._tail:
                head = self._tail + bytes(data[pos : pos + 14])
            else:
                head = bytes(data[pos : pos + 14])
            if len(head) < 2:
                self._tail, pos = head, end
                break
            b0, b1 = head[0], head[1]
            length = b1 & 0x7F
            size = 2 if length < 126 else 4 if length == 126 else 10
            if len(head) < size:
                self._tail, pos = head, end
                break
            if length == 126:
                length = struct.unpack_from("!H", head, 2)[0]
            elif length == 127:
                length = struct.unpack_from("!Q", head, 2)[0]
            if b0 != 0x80 | self.opcode or length != self.size:
                raise ClientFailed(
                    f"unexpected frame: first byte {b0:#x}, length {length}, "
                    f"expected {0x80 | self.opcode:#x} and {self.size}"
                )
            pos += size - len(self._tail)
            self._tail = b""
            self._skip = length
            if not length:
                self.messages += 1


def _address(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"


def _open(host: str, port: int, request: bytes) -> socket.socket:
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(request)
    response = b""
    while b"\r\n\r\n" not in response:
        data = sock.recv(4096)
        if not data:
            raise ClientFailed("connection closed during the handshake")
        response += data
    _check_101(response)
    if not response.endswith(b"\r\n\r\n"):
        raise ClientFailed("data after the handshake response")
    return sock


def _close(sock: socket.socket) -> None:
    sock.sendall(_CLOSE_1000)
    reply = b""
    while len(reply) < len(_CLOSE_REPLY):
        data = sock.recv(64)
        if not data:
            break
        reply += data
    sock.close()
    if reply != _CLOSE_REPLY:
        raise ClientFailed(f"unexpected close reply {reply!r}")


def _w1(job: Job, url: str, meter: Meter) -> list[int]:
    host, port, path = _address(url)
    payload = make_payload(job.size, job.text)
    data = payload.encode() if isinstance(payload, str) else payload
    opcode = 0x1 if job.text else 0x2
    frame = bytes(client_frame(data, opcode))
    expected = server_frame(data, opcode)
    want = len(expected)
    buf = bytearray(65536)
    view = memoryview(buf)
    clock = time.perf_counter_ns
    samples = [0] * job.count
    sock = _open(host, port, _request(host, port, path))
    send, recv_into = sock.sendall, sock.recv_into
    got = 0
    for timed, n in ((False, job.warmup), (True, job.count)):
        if timed:
            meter.start()
        for i in range(n):
            start = clock()
            send(frame)
            got = 0
            while got < want:
                k = recv_into(view[got:])
                if not k:
                    raise ClientFailed("connection closed by the server")
                got += k
            end = clock()
            if timed:
                samples[i] = end - start
        if timed:
            meter.stop()
        if n and (got != want or buf[:want] != expected):
            raise ClientFailed(f"echo mismatch: {bytes(buf[:got])[:40]!r}")
    _close(sock)
    return samples


def _pump(
    sock: socket.socket,
    frames: bytes | bytearray,
    frame_size: int,
    n: int,
    window: int,
    counter: FrameCounter,
    buf: bytearray,
) -> None:
    """Send ``n`` pre-built frames with at most ``window`` unanswered, until every echo
    has been counted. Sends and receives interleave on one non-blocking socket."""
    sel = selectors.DefaultSelector()
    view = memoryview(buf)
    frames_view = memoryview(frames)
    out = frames_view[:0]
    sent = 0
    base = counter.messages
    registered = selectors.EVENT_READ
    sel.register(sock, registered)
    try:
        while counter.messages - base < n:
            if not out and sent < n:
                room = min(window - (sent - (counter.messages - base)), n - sent)
                if room > 0:
                    out = frames_view[: room * frame_size]
                    sent += room
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if out else 0)
            if want != registered:
                sel.modify(sock, want)
                registered = want
            for _key, events in sel.select():
                if events & selectors.EVENT_WRITE and out:
                    try:
                        k = sock.send(out)
                    except BlockingIOError:
                        k = 0
                    out = out[k:]
                if events & selectors.EVENT_READ:
                    try:
                        k = sock.recv_into(view)
                    except BlockingIOError:
                        continue
                    if not k:
                        raise ClientFailed("connection closed by the server")
                    counter.feed(view[:k])
    finally:
        sel.close()


def _w2(job: Job, url: str, meter: Meter) -> None:
    host, port, path = _address(url)
    payload = make_payload(job.size, job.text)
    data = payload.encode() if isinstance(payload, str) else payload
    opcode = 0x1 if job.text else 0x2
    frame = bytes(client_frame(data, opcode))
    frames = frame * job.window  # one window of frames, sent in slices
    counter = FrameCounter(opcode, len(data))
    buf = bytearray(256 * 1024)
    sock = _open(host, port, _request(host, port, path))
    sock.setblocking(False)
    for timed, n in ((False, job.warmup), (True, job.count)):
        if timed:
            meter.start()
        _pump(sock, frames, len(frame), n, job.window, counter, buf)
        if timed:
            meter.stop()
    sock.setblocking(True)
    _close(sock)


def _w3(job: Job, url: str, meter: Meter) -> None:
    host, port, path = _address(url)
    payload = make_payload(job.size, job.text)
    data = payload.encode() if isinstance(payload, str) else payload
    opcode = 0x1 if job.text else 0x2
    frame = client_frame(data, opcode)
    header = _header(opcode, len(data), masked=False)
    warm = make_payload(64 * 1024, text=False)
    assert isinstance(warm, bytes)
    sock = _open(host, port, _request(host, port, path))
    sock.setblocking(False)
    warm_buf = bytearray(256 * 1024)
    warm_frame = client_frame(warm, 0x2)
    _pump(sock, warm_frame, len(warm_frame), 1, 1, FrameCounter(0x2, len(warm)), warm_buf)
    del warm_frame, warm_buf
    meter.start()
    # The echo is received into one buffer of its size: a client that hands the message
    # over in one piece needs at least that.
    received = bytearray(len(header) + len(data))
    view = memoryview(received)
    out = memoryview(frame)
    got = 0
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    while got < len(received):
        for _key, events in sel.select():
            if events & selectors.EVENT_WRITE and out:
                with contextlib.suppress(BlockingIOError):
                    out = out[sock.send(out) :]
                if not out:
                    sel.modify(sock, selectors.EVENT_READ)
            if events & selectors.EVENT_READ:
                try:
                    k = sock.recv_into(view[got:])
                except BlockingIOError:
                    continue
                if not k:
                    raise ClientFailed("connection closed by the server")
                got += k
    sel.close()
    meter.stop()
    if view[: len(header)] != header or view[len(header) :] != data:
        raise ClientFailed("echo mismatch in the 64 MiB message")
    del view
    sock.setblocking(True)
    _close(sock)


def _w4(job: Job, url: str, meter: Meter) -> None:
    host, port, path = _address(url)
    request = _request(host, port, path)
    for timed, n in ((False, job.warmup), (True, job.count)):
        if timed:
            meter.start()
        for _ in range(n):
            _close(_open(host, port, request))
        if timed:
            meter.stop()


class _Conn:
    __slots__ = ("data", "replies", "sock", "state")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.state = "connecting"
        self.data = b""
        self.replies = 0


def _w5_phase(job: Job, url: str, n: int, meter: Meter | None) -> None:
    host, port, path = _address(url)
    request = _request(host, port, path)
    payload = make_payload(job.size, job.text)
    data = payload.encode() if isinstance(payload, str) else payload
    opcode = 0x1 if job.text else 0x2
    frame = bytes(client_frame(data, opcode))
    expected = server_frame(data, opcode)
    sel = selectors.DefaultSelector()
    conns: list[_Conn] = []
    for _ in range(n):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        sock.connect_ex((host, port))
        conn = _Conn(sock)
        conns.append(conn)
        sel.register(sock, selectors.EVENT_WRITE, conn)
    opened = done = 0
    try:
        while done < n:
            for key, events in sel.select():
                conn = key.data
                sock = conn.sock
                if conn.state == "connecting":
                    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if error:
                        raise ClientFailed(f"connect failed: errno {error}")
                    sock.send(request)  # a few hundred bytes: fits in a new socket's buffer
                    conn.state = "handshake"
                    sel.modify(sock, selectors.EVENT_READ, conn)
                    continue
                if not events & selectors.EVENT_READ:
                    continue
                chunk = sock.recv(65536)
                if not chunk:
                    raise ClientFailed(f"connection closed by the server in state {conn.state}")
                conn.data += chunk
                if conn.state == "handshake":
                    if b"\r\n\r\n" not in conn.data:
                        continue
                    _check_101(conn.data)
                    conn.data = b""
                    conn.state = "open"
                    opened += 1
                    if opened == n:
                        if meter is not None:
                            meter.mark_rss()
                        for each in conns:
                            each.state = "echo"
                            each.sock.send(frame)
                elif conn.state == "echo":
                    while len(conn.data) >= len(expected):
                        if conn.data[: len(expected)] != expected:
                            raise ClientFailed(f"echo mismatch: {conn.data[:40]!r}")
                        conn.data = conn.data[len(expected) :]
                        conn.replies += 1
                        if conn.replies < job.rounds:
                            sock.send(frame)
                        else:
                            sock.send(_CLOSE_1000)
                            conn.state = "closing"
                            break
                if conn.state == "closing" and len(conn.data) >= len(_CLOSE_REPLY):
                    if conn.data[: len(_CLOSE_REPLY)] != _CLOSE_REPLY:
                        raise ClientFailed(f"unexpected close reply {conn.data!r}")
                    sel.unregister(sock)
                    sock.close()
                    conn.state = "closed"
                    done += 1
                elif conn.state == "open" and conn.data:
                    raise ClientFailed("data before any message was sent")
    finally:
        sel.close()
        for conn in conns:
            conn.sock.close()


def _w5(job: Job, url: str, meter: Meter) -> None:
    _w5_phase(job, url, 1, None)  # warm-up
    meter.start()
    _w5_phase(job, url, job.count, meter)
    meter.stop()


_WORKLOADS = {"w1": _w1, "w2": _w2, "w3": _w3, "w4": _w4, "w5": _w5}


class RawSocket:
    """Pre-built masked frames on a plain socket; the loopback ceiling."""

    key = "raw-socket"
    dists: tuple[str, ...] = ()
    settings = "socket + selectors, pre-built masked frames, minimal frame parsing"

    def run(self, job: Job, url: str, meter: Meter, timeout: float) -> list[int] | None:
        def hung(signum: int, frame: FrameType | None) -> None:
            where = traceback.format_stack(frame, limit=4) if frame is not None else []
            raise ClientFailed(f"hung: no result after {timeout:.0f} s", "".join(where))

        previous = signal.signal(signal.SIGALRM, hung)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            result: list[int] | None = _WORKLOADS[job.workload](job, url, meter)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return result
