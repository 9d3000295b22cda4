"""The benchmark runner's adapters and wire helpers, against the benchmark's echo server.

The runner itself is not run here (it measures, it does not assert); these tests pin that
the pieces it is built from do what the report says: the reference frames are valid
WebSocket frames, every registered client has an adapter, and the generic workloads
drive the Trio floor (and a library client) through a real echo server.
"""

from __future__ import annotations

import importlib
import struct
from collections.abc import Iterator

import pytest

# The project root is on sys.path (the editable install puts it there): benchmarks/ is
# importable as a package, as `python -m benchmarks.run` imports it.
from benchmarks._common import ClientFailed, EchoServer, Job, Meter
from benchmarks._registry import CLIENTS
from benchmarks._trio_clients import RawTrioWebsocket, TrioFloor
from benchmarks._wire import CLOSE_1000, FrameCounter, frames_for, server_frame
from benchmarks._workloads import TaskClient


def _unmask(frame: bytes | bytearray) -> tuple[int, bytes]:
    """(first byte, payload) of one masked client frame."""
    length = frame[1] & 0x7F
    offset = 2 if length < 126 else 4 if length == 126 else 10
    if length == 126:
        length = struct.unpack_from("!H", frame, 2)[0]
    elif length == 127:
        length = struct.unpack_from("!Q", frame, 2)[0]
    key = frame[offset : offset + 4]
    body = frame[offset + 4 :]
    assert frame[1] & 0x80, "client frames must be masked"
    assert len(body) == length
    return frame[0], bytes(b ^ key[i % 4] for i, b in enumerate(body))


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 200_000])
def test_frames_for_builds_a_masked_frame_of_the_payload(size: int) -> None:
    """A reference client's pre-built frame unmasks to its payload, with FIN and opcode."""
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    frames = frames_for(payload)
    assert _unmask(frames.frame) == (0x82, payload)
    assert frames.echo() == server_frame(payload, 0x2)
    text = frames_for("é" * 3)
    assert _unmask(text.frame) == (0x81, "é".encode() * 3)


def test_close_1000_is_a_masked_close_frame_with_code_1000() -> None:
    """The references close with a masked close frame carrying 1000 and no reason."""
    assert _unmask(CLOSE_1000) == (0x88, struct.pack("!H", 1000))


def test_frame_counter_counts_messages_split_byte_by_byte() -> None:
    """FrameCounter counts whole messages when headers and payloads straddle reads."""
    stream = server_frame(b"x" * 300, 0x2) * 3
    counter = FrameCounter(0x2, 300)
    for i in range(len(stream)):
        counter.feed(memoryview(stream[i : i + 1]))
    assert counter.messages == 3


def test_frame_counter_rejects_an_unexpected_frame() -> None:
    """A frame of another size or opcode than the echo's is a failure, not a count."""
    with pytest.raises(ClientFailed, match="unexpected frame"):
        FrameCounter(0x2, 300).feed(memoryview(server_frame(b"x" * 299, 0x2)))


def test_registry_every_client_names_an_adapter_with_run() -> None:
    """Each registry entry points at a class with dists, settings and run()."""
    assert len({c.key for c in CLIENTS}) == len(CLIENTS)
    for info in CLIENTS:
        cls = getattr(importlib.import_module(info.module), info.cls)
        assert callable(cls.run), info.key
        assert isinstance(cls.settings, str), info.key
        assert cls.settings, info.key
        assert isinstance(cls.dists, tuple), info.key


@pytest.fixture(scope="module")
def bench_echo_url() -> Iterator[str]:
    """The benchmark's own echo server (its ``websockets`` implementation) in a subprocess."""
    server = EchoServer("websockets", cpu=None, uvloop=False)
    try:
        yield server.url
    finally:
        server.stop()


JOBS = {
    "w1": Job("w1", 16, True, 20, warmup=2),
    "w2": Job("w2", 1024, True, 50, warmup=5, window=8),
    "w3": Job("w3", 300_000, False, 1),
    "w4": Job("w4", 0, True, 5, warmup=1),
    "w5": Job("w5", 16, True, 5, rounds=3),
}


@pytest.mark.parametrize("client_cls", [TrioFloor, RawTrioWebsocket])
@pytest.mark.parametrize("workload", sorted(JOBS))
def test_task_client_runs_each_workload_against_the_echo_server(
    bench_echo_url: str, client_cls: type[TaskClient], workload: str
) -> None:
    """The generic workloads drive a task-style adapter through a real echo server, and
    the meter brackets a timed part (W1 returns one sample per round trip)."""
    job = JOBS[workload]
    meter = Meter(server_pid=None)
    samples = client_cls().run(job, bench_echo_url, meter, timeout=30)
    assert meter.wall > 0
    if workload == "w1":
        assert samples is not None
        assert len(samples) == job.count
        assert all(s > 0 for s in samples)
    else:
        assert samples is None or len(samples) == 1


@pytest.mark.parametrize("workload", ["w1", "w2", "w3"])
def test_picows_adapter_runs_the_echo_workloads(bench_echo_url: str, workload: str) -> None:
    """picows' callback client, behind the task-style adapter, echoes text and binary
    through a real echo server (a bench extra: skipped when picows is not installed)."""
    pytest.importorskip("picows")
    from benchmarks._picows_client import Picows

    job = JOBS[workload]
    meter = Meter(server_pid=None)
    samples = Picows().run(job, bench_echo_url, meter, timeout=30)
    assert meter.wall > 0
    if workload == "w1":
        assert samples is not None
        assert len(samples) == job.count
