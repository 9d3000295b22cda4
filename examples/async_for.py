"""Receiving in a loop: ``async for message in ws``, alone or beside the handlers."""

import trio

from trio_ws_events import ConnectError, WebSocket


async def script_form() -> None:
    # --8<-- [start:loop]
    async with WebSocket("ws://127.0.0.1:8765/") as ws:
        ws.send("hello")
        ws.send(b"\x01\x02")
        async for message in ws:  # str for text, bytes for binary, in arrival order
            print("got:", message)
            if isinstance(message, bytes):
                ws.close(1000, "done")  # the loop ends once on_closed has run
    print("loop over; closed with", ws.close_code, ws.close_reason)
    # --8<-- [end:loop]


async def beside_handlers() -> None:
    # --8<-- [start:break]
    ws = WebSocket("ws://127.0.0.1:8765/")
    echoed = trio.Event()

    @ws.on_message
    def on_message(ws: WebSocket, message: str) -> None:  # sees every message
        print("handler:", message)
        if message == "after the loop":
            echoed.set()

    ws.on_open += lambda ws: ws.send("ready")
    async with trio.open_nursery() as nursery:
        ws.open(nursery)  # iterate right after open(): no message is missed
        async for message in ws:  # the handler runs first, then the loop gets it
            print("loop:", message)
            if message == "ready":
                break  # the connection stays open; from now on, handlers only
        ws.send("after the loop")
        await echoed.wait()
        ws.close()
    # --8<-- [end:break]


async def failed() -> None:
    # --8<-- [start:error]
    ws = WebSocket("ws://127.0.0.1:1/", connect_timeout=5)
    try:
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            async for message in ws:
                print(message)
    except* ConnectError as group:  # the loop raises how on_error would have ended
        print("could not connect:", group.exceptions[0])
    # --8<-- [end:error]


async def main() -> None:
    await script_form()
    await beside_handlers()
    await failed()


trio.run(main)
