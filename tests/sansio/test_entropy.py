"""The random-byte pool behind masking keys and handshake nonces (``_sansio/entropy.py``)."""

from __future__ import annotations

import itertools
import os
import struct

import pytest

from trio_ws_events._sansio import entropy
from trio_ws_events._sansio.entropy import POOL_SIZE, random_bytes
from trio_ws_events._sansio.framing import FrameWriter
from trio_ws_events._sansio.handshake import ClientHandshake


@pytest.fixture
def counted_urandom(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """os.urandom replaced by a stream of distinct 4-byte counters; the blocks it gave."""
    counter = itertools.count()
    blocks: list[bytes] = []

    def urandom(size: int) -> bytes:
        assert size % 4 == 0
        block = b"".join(struct.pack("!I", next(counter)) for _ in range(size // 4))
        blocks.append(block)
        return block

    monkeypatch.setattr(os, "urandom", urandom)
    monkeypatch.setattr(entropy, "_pool", entropy._Pool())
    return blocks


def test_random_bytes_hands_out_every_byte_once(counted_urandom: list[bytes]) -> None:
    """Keys and nonces taken in turn are consecutive pieces of what the OS gave, none twice."""
    taken = [random_bytes(size) for size in [4, 16, 256, 4, 16] * 40]
    joined = b"".join(taken)
    given = b"".join(counted_urandom)
    # Each block's unused tail is dropped, never handed out: what was taken is the blocks'
    # prefixes, in order.
    position = 0
    for piece in taken:
        found = given.find(piece, position)
        assert found >= position
        position = found + len(piece)
    units = [joined[i : i + 4] for i in range(0, len(joined), 4)]
    assert len(set(units)) == len(units)


def test_connections_share_the_pool(counted_urandom: list[bytes]) -> None:
    """Handshakes and the first frames of many connections cost one OS call per 4 KiB."""
    for _ in range(10):
        ClientHandshake(host="example.com", target="/").request()
        FrameWriter(None, None).frame(1, b"hi")
    assert len(counted_urandom) == 1  # 10 x (16 + 256) bytes fit in one block


def test_random_bytes_refuses_sizes_it_cannot_serve() -> None:
    """A size of 0 or above the pool is refused with what is allowed."""
    with pytest.raises(ValueError, match=f"size must be between 1 and {POOL_SIZE}, got 0"):
        random_bytes(0)
    with pytest.raises(ValueError, match="got 4097"):
        random_bytes(POOL_SIZE + 1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_does_not_repeat_its_parents_bytes() -> None:
    """After fork, the child draws fresh bytes: the parent's pool is not handed out twice."""
    random_bytes(4)  # the pool holds bytes now
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next 64 bytes, then leave at once
        try:
            os.write(write_end, random_bytes(64))
        finally:
            os._exit(0)
    os.close(write_end)
    child = b""
    while len(child) < 64:
        chunk = os.read(read_end, 64)
        if not chunk:
            break
        child += chunk
    os.close(read_end)
    os.waitpid(pid, 0)
    assert len(child) == 64
    assert child != random_bytes(64)
