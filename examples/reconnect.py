"""Reconnecting: handlers registered once, a drop, a refusal, and nothing sent is lost."""

import trio

from trio_ws_events import (
    Backoff,
    Decision,
    Ending,
    ReconnectingWebSocket,
    RetryPolicy,
    WebSocketError,
)
from trio_ws_events.testing import open_scripted_server


# --8<-- [start:policy]
def policy(ending: Ending) -> Decision:
    if ending.code == 4001:  # say, our server's "token expired": get a new one, come back
        return Decision.RETRY
    return RetryPolicy()(ending)  # the default table for everything else
    # --8<-- [end:policy]


# --8<-- [start:client]
def make_client(url: str) -> ReconnectingWebSocket:
    rws = ReconnectingWebSocket(url, backoff=Backoff(initial=0.1, max=5), policy=policy)

    @rws.on_open
    def on_open(rws: ReconnectingWebSocket) -> None:
        print(f"open (connection {rws.connections})")

    @rws.on_message
    def on_message(rws: ReconnectingWebSocket, message: str) -> None:
        print("received:", message)

    @rws.on_reconnecting
    def on_reconnecting(
        rws: ReconnectingWebSocket, attempt: int, delay: float, why: Ending
    ) -> None:
        cause = type(why.error).__name__ if why.error else f"close {why.code}"
        print(f"reconnecting: attempt {attempt} in {delay:.1f}s after {cause}")
        rws.send(f"sent while disconnected ({attempt})")  # queued for the next connection

    @rws.on_closed
    def on_closed(rws: ReconnectingWebSocket, code: int, reason: str) -> None:
        print("closed:", code, reason)

    @rws.on_error
    def on_error(rws: ReconnectingWebSocket, error: WebSocketError) -> None:
        print("gave up:", error)

    return rws
    # --8<-- [end:client]


async def main() -> None:
    async with open_scripted_server() as server:
        rws = make_client(server.url)
        async with trio.open_nursery() as nursery:
            rws.open(nursery)
            conn = await server.accept()
            await conn.send("hello")
            await conn.drop()  # the network fails: no close frame
            await server.reject(503, retry_after=1)  # the server is restarting
            conn = await server.accept()
            print("server got:", await conn.receive(), "|", await conn.receive())
            await conn.close(1000, "bye")  # 1000 is final: the client does not come back


trio.run(main)
