"""The shortest complete program: say hello, close on the first answer."""

# --8<-- [start:program]
import trio

from trio_ws_events import WebSocket


async def main() -> None:
    ws = WebSocket("ws://127.0.0.1:8765/")
    ws.on_open += lambda ws: ws.send("hello")
    ws.on_message += lambda ws, message: ws.close(1000, "bye")
    ws.on_closed += lambda ws, code, reason: print("closed:", code, reason)
    ws.on_error += lambda ws, error: print("error:", error)
    async with trio.open_nursery() as nursery:
        ws.open(nursery)


trio.run(main)
# --8<-- [end:program]
