"""Sending from worker threads: send_threadsafe() queues in the Trio thread, in call order."""

import threading

import trio

from trio_ws_events import WebSocket

WORKERS = 4
EACH = 25


# --8<-- [start:worker]
def worker(ws: WebSocket, name: str) -> None:
    """Plain blocking code in a thread of its own (a GUI, a sync library, a sensor loop)."""
    futures = [ws.send_threadsafe(f"{name} #{n}") for n in range(EACH)]
    # Optional: each future says whether send() took its message, or why not.
    for future in futures:
        future.result(timeout=10)  # raises InvalidStateError, SendBufferFull, ... if refused


# --8<-- [end:worker]


async def main() -> None:
    echoes: list[str] = []
    all_back = trio.Event()

    def on_message(ws: WebSocket, message: str) -> None:
        echoes.append(message)
        if len(echoes) == WORKERS * EACH:
            all_back.set()

    ws = WebSocket("ws://127.0.0.1:8765/")
    ws.on_message += on_message
    async with ws:
        # --8<-- [start:threads]
        threads = [
            threading.Thread(target=worker, args=(ws, f"worker-{i}")) for i in range(WORKERS)
        ]
        for thread in threads:
            thread.start()

        def join_all() -> None:
            for thread in threads:
                thread.join()

        await trio.to_thread.run_sync(join_all)  # the Trio thread stays free meanwhile
        # --8<-- [end:threads]
        await all_back.wait()
    in_order = all(
        [m for m in echoes if m.startswith(f"worker-{i} ")]
        == [f"worker-{i} #{n}" for n in range(EACH)]
        for i in range(WORKERS)
    )
    print("echoed back:", len(echoes), "messages; in order per worker:", in_order)


trio.run(main)
