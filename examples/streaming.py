"""Streaming: a large message handed over piece by piece through ``on_incomplete_frame``."""

import hashlib

import trio

from trio_ws_events import Frame, WebSocket

SIZE = 8 * 1024 * 1024


# --8<-- [start:handler]
class Download:
    """Hashes a binary message as it streams in, never holding all of it."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def on_incomplete_frame(self, ws: WebSocket, frame: Frame) -> None:
        assert isinstance(frame.data, bytes)  # frame.is_text is False for binary messages
        self.digest.update(frame.data)
        self.size += len(frame.data)
        if frame.final:  # the last piece of this message
            print(f"streamed {self.size} bytes, sha256 {self.digest.hexdigest()[:16]}...")
            ws.close()
        # --8<-- [end:handler]


async def main() -> None:
    payload = bytes(range(256)) * (SIZE // 256)
    download = Download()
    # --8<-- [start:register]
    ws = WebSocket("ws://127.0.0.1:8765/", max_message_size=1024 * 1024)
    ws.on_incomplete_frame += download.on_incomplete_frame  # from now on, big messages stream
    # A message whose single frame arrives in one read still fires on_binary, whole:
    ws.on_binary += lambda ws, data: download.on_incomplete_frame(ws, Frame(data, False, True))
    # --8<-- [end:register]
    ws.on_open += lambda ws: ws.send(payload)
    async with trio.open_nursery() as nursery:
        ws.open(nursery)
    assert download.digest.hexdigest() == hashlib.sha256(payload).hexdigest()
    print("same as sent; closed with", ws.close_code)


trio.run(main)
