"""A chat room: the first message names the client, then each line goes to the others."""

import trio
import trio_websocket

from trio_ws_events import WebSocket

# --8<-- [start:chat]
members: dict[WebSocket, str] = {}


def tell_others(sender: WebSocket, line: str) -> None:
    for ws in members:
        if ws is not sender and ws.is_open:
            ws.send(line)


def on_message(ws: WebSocket, text: str) -> None:
    if ws not in members:  # the first message is the name
        members[ws] = text
        tell_others(ws, f"* {text} joined")
    else:
        tell_others(ws, f"<{members[ws]}> {text}")


def on_left(ws: WebSocket) -> None:
    name = members.pop(ws, None)
    if name is not None:
        tell_others(ws, f"* {name} left")


async def handler(request: trio_websocket.WebSocketRequest) -> None:
    ws = await WebSocket.accept_trio_websocket(request)
    ws.on_message += on_message
    ws.on_closed += lambda ws, code, reason: on_left(ws)
    ws.on_error += lambda ws, error: on_left(ws)
    async with trio.open_nursery() as nursery:
        ws.open(nursery)


# --8<-- [end:chat]


async def main() -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        url = f"ws://127.0.0.1:{server.port}/"
        alice, bob = WebSocket(url, compression=None), WebSocket(url, compression=None)
        seen_by_bob: list[str] = []
        alice_gone = trio.Event()

        def bob_hears(ws: WebSocket, message: str) -> None:
            seen_by_bob.append(message)
            if message.endswith(" left"):
                alice_gone.set()

        bob.on_message += bob_hears
        alice.on_open += lambda ws: ws.send("alice")
        bob.on_open += lambda ws: ws.send("bob")
        bob.open(nursery)
        while len(members) < 1:  # noqa: ASYNC110 (the demo waits for the server's side)
            await trio.sleep(0.01)
        alice.open(nursery)
        while len(members) < 2:  # noqa: ASYNC110
            await trio.sleep(0.01)
        alice.send("hi bob")
        alice.close()
        await alice.wait_closed()
        await alice_gone.wait()
        print("\n".join(seen_by_bob))
        bob.close()
        await bob.wait_closed()
        nursery.cancel_scope.cancel()


trio.run(main)
