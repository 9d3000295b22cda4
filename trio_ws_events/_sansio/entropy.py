"""Random bytes for masking keys and handshake nonces, fetched from the OS in bulk.

RFC 6455 asks for masking keys (5.3) and the ``Sec-WebSocket-Key`` nonce (4.1) from a strong
source of entropy. Every byte here comes from ``os.urandom`` and is handed out once; what the
pool saves is the system call per connection and per key: W4 opened each connection with
two ``getrandom`` calls (the nonce, then a 4 KiB block of masking keys per connection).

The pool is per thread (Trio runs may live in several threads) and is dropped in a forked
child, which would otherwise hand out the very bytes its parent hands out.
"""

from __future__ import annotations

import os
import threading
from typing import Final

__all__ = ["POOL_SIZE", "random_bytes"]

#: Bytes fetched from the OS at a time.
POOL_SIZE: Final = 4096


class _Pool(threading.local):
    def __init__(self) -> None:
        self.data = b""
        self.used = 0


_pool = _Pool()


def random_bytes(size: int) -> bytes:
    """``size`` fresh random bytes (at most ``POOL_SIZE``), never handed out before."""
    if not 0 < size <= POOL_SIZE:
        raise ValueError(f"size must be between 1 and {POOL_SIZE}, got {size}")
    pool = _pool
    used = pool.used
    if used + size > len(pool.data):
        pool.data = os.urandom(POOL_SIZE)
        used = 0
    pool.used = used + size
    return pool.data[used : used + size]


def _forget_in_child() -> None:
    global _pool
    _pool = _Pool()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
