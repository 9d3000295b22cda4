"""The forms of ``close()``, and the codes it refuses before sending anything."""

import trio

from trio_ws_events import WebSocket


def close_plain(ws: WebSocket) -> None:
    # --8<-- [start:forms]
    ws.close()  # 1000, no reason
    # --8<-- [end:forms]


def close_bye(ws: WebSocket) -> None:
    # --8<-- [start:forms]
    ws.close(1000, "bye")
    # --8<-- [end:forms]


def close_app_code(ws: WebSocket) -> None:
    # --8<-- [start:forms]
    ws.close(4000, "shutting down the session")  # an application-defined code
    # --8<-- [end:forms]


def refused(ws: WebSocket) -> None:
    # --8<-- [start:refused]
    for code, reason in [(1005, ""), (5000, ""), (1000, "é" * 62)]:
        try:
            ws.close(code, reason)
        except ValueError as exc:
            print("refused:", exc)
    # --8<-- [end:refused]


async def main() -> None:
    for closer in (close_plain, close_bye, close_app_code):
        ws = WebSocket("ws://127.0.0.1:8765/")
        ws.on_open += refused
        ws.on_open += closer
        ws.on_closed += lambda ws, code, reason: print("closed:", code, repr(reason))
        async with trio.open_nursery() as nursery:
            ws.open(nursery)


trio.run(main)
