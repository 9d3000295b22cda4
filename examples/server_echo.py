"""An event-driven trio-websocket server: echo, upper-cased."""

import trio
import trio_websocket

from trio_ws_events import WebSocket


# --8<-- [start:handler]
async def handler(request: trio_websocket.WebSocketRequest) -> None:
    ws = await WebSocket.accept_trio_websocket(request)
    ws.on_message += lambda ws, message: ws.send(message.upper())
    ws.on_binary += lambda ws, data: ws.send(data)
    ws.on_closed += lambda ws, code, reason: print("client left:", code, reason)
    ws.on_error += lambda ws, error: print("client failed:", error)
    async with trio.open_nursery() as nursery:
        ws.open(nursery)  # on_open fires at once; the nursery ends with the connection


# --8<-- [end:handler]


async def main() -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        # A client of ours, to show it working.
        client = WebSocket(f"ws://127.0.0.1:{server.port}/", compression=None)
        client.on_open += lambda ws: ws.send("hello")
        client.on_message += lambda ws, message: print("client got:", message)
        client.on_message += lambda ws, message: ws.close(1000, "thanks")
        client.open(nursery)
        await client.wait_closed()
        await trio.sleep(0.1)  # let the handler print its client's close
        nursery.cancel_scope.cancel()


trio.run(main)
