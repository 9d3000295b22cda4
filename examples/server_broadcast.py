"""Broadcast: every message a client sends goes to every client connected."""

import trio
import trio_websocket

from trio_ws_events import SendBufferFull, WebSocket

# --8<-- [start:broadcast]
clients: set[WebSocket] = set()


def broadcast(message: str) -> None:
    for ws in clients:
        if ws.is_open:
            # send() queues and returns: one slow client does not hold the others back.
            # A client whose buffer is full is dropped rather than grow without bound.
            try:
                ws.send(message)
            except SendBufferFull:
                ws.close(1008, "too slow")


async def handler(request: trio_websocket.WebSocketRequest) -> None:
    ws = await WebSocket.accept_trio_websocket(request, max_buffered_amount=2**20)
    ws.on_open += clients.add
    ws.on_message += lambda ws, message: broadcast(message)
    ws.on_closed += lambda ws, code, reason: clients.discard(ws)
    ws.on_error += lambda ws, error: clients.discard(ws)
    async with trio.open_nursery() as nursery:
        ws.open(nursery)


# --8<-- [end:broadcast]


async def main() -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        url = f"ws://127.0.0.1:{server.port}/"
        heard: list[str] = []
        all_heard = trio.Event()

        def on_message(ws: WebSocket, message: str) -> None:
            heard.append(message)
            if len(heard) == 3:
                all_heard.set()

        listeners = [WebSocket(url, compression=None) for _ in range(3)]
        for ws in listeners:
            ws.on_message += on_message
            ws.open(nursery)
        while len(clients) < 3:  # noqa: ASYNC110 (the demo waits for the server's side)
            await trio.sleep(0.01)
        listeners[0].send("news for everyone")
        await all_heard.wait()
        print("heard by", len(heard), "clients:", heard[0])
        for ws in listeners:
            ws.close()
            await ws.wait_closed()
        nursery.cancel_scope.cancel()


trio.run(main)
