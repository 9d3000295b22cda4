"""The browser's ``new WebSocket(url)`` program, written with trio-ws-events."""

import trio

from trio_ws_events import WebSocket


async def main() -> None:
    ws = WebSocket("ws://127.0.0.1:8765/", protocols=["chat"])  # new WebSocket(url, ["chat"])
    ws.on_open += lambda ws: ws.send("Hello Server!")  # socket.addEventListener("open", ...)
    ws.on_message += lambda ws, message: ws.close(1000, "done")  # "message", event.data
    ws.on_closed += lambda ws, code, reason: print("closed", code, reason, ws.subprotocol)
    async with trio.open_nursery() as nursery:
        ws.open(nursery)  # the browser connects in the constructor; we connect here


trio.run(main)
