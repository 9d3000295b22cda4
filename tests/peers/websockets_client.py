"""A client built on the ``websockets`` library, run by the tests as a subprocess.

Usage: ``python websockets_client.py URL TEXT [CODE REASON]``. It connects to ``URL``, sends
``TEXT``, prints the reply on one line, then either closes with ``CODE`` and ``REASON`` or,
without them, waits for the server to close. Last it prints ``closed CODE REASON``: the
close frame it received.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


async def _run(url: str, text: str, close: list[str]) -> None:
    async with connect(url, compression=None, ping_interval=None) as ws:
        await ws.send(text)
        print(await ws.recv(), flush=True)
        if close:
            await ws.close(int(close[0]), close[1])
        else:
            with contextlib.suppress(ConnectionClosed):
                await ws.recv()
    # The close frame received: websockets keeps its code and reason.
    print(f"closed {ws.close_code} {ws.close_reason}", flush=True)


if __name__ == "__main__":
    asyncio.run(_run(sys.argv[1], sys.argv[2], sys.argv[3:]))
