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
import time
import traceback
from types import FrameType

from ._common import W3_WARMUP, ClientFailed, Job, Meter
from ._wire import (
    CLOSE_1000,
    CLOSE_REPLY,
    FrameCounter,
    address,
    check_101,
    check_close_reply,
    frames_for,
    job_frames,
    request,
)


def _open(url: str, handshake: bytes) -> socket.socket:
    host, port, _path = address(url)
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(handshake)
    response = b""
    while b"\r\n\r\n" not in response:
        data = sock.recv(4096)
        if not data:
            raise ClientFailed("connection closed during the handshake")
        response += data
    check_101(response)
    return sock


def _close(sock: socket.socket) -> None:
    sock.sendall(CLOSE_1000)
    reply = b""
    while len(reply) < len(CLOSE_REPLY):
        data = sock.recv(64)
        if not data:
            break
        reply += data
    sock.close()
    check_close_reply(reply)


def _w1(job: Job, url: str, meter: Meter) -> list[int]:
    frames = job_frames(job)
    frame, expected = frames.frame, frames.echo()
    want = len(expected)
    buf = bytearray(65536)
    view = memoryview(buf)
    clock = time.perf_counter_ns
    samples = [0] * job.count
    sock = _open(url, request(url))
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
    frames = job_frames(job)
    window = frames.frame * job.window  # one window of frames, sent in slices
    counter = FrameCounter(frames.opcode, len(frames.data))
    buf = bytearray(256 * 1024)
    sock = _open(url, request(url))
    sock.setblocking(False)
    for timed, n in ((False, job.warmup), (True, job.count)):
        if timed:
            meter.start()
        _pump(sock, window, len(frames.frame), n, job.window, counter, buf)
        if timed:
            meter.stop()
    sock.setblocking(True)
    _close(sock)


def _w3_warm(sock: socket.socket) -> None:
    warm = frames_for(W3_WARMUP, copy_frame=False)
    counter = FrameCounter(warm.opcode, len(warm.data))
    _pump(sock, warm.frame, len(warm.frame), 1, 1, counter, bytearray(256 * 1024))


def _w3(job: Job, url: str, meter: Meter) -> None:
    frames = job_frames(job, copy_frame=False)
    header, data = frames.echo_header, frames.data
    sock = _open(url, request(url))
    sock.setblocking(False)
    _w3_warm(sock)
    meter.start()
    # The echo is received into one buffer of its size: a client that hands the message
    # over in one piece needs at least that.
    received = bytearray(len(header) + len(data))
    view = memoryview(received)
    out = memoryview(frames.frame)
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
    handshake = request(url)
    for timed, n in ((False, job.warmup), (True, job.count)):
        if timed:
            meter.start()
        for _ in range(n):
            _close(_open(url, handshake))
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
    host, port, _path = address(url)
    handshake = request(url)
    frames = job_frames(job)
    frame, expected = frames.frame, frames.echo()
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
                    sock.send(handshake)  # a few hundred bytes: fits in a new socket's buffer
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
                    check_101(conn.data)
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
                            sock.send(CLOSE_1000)
                            conn.state = "closing"
                            break
                if conn.state == "closing" and len(conn.data) >= len(CLOSE_REPLY):
                    if conn.data[: len(CLOSE_REPLY)] != CLOSE_REPLY:
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
