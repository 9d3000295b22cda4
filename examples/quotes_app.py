"""A small app built on trio-ws-events: it follows price quotes for one symbol.

``test_quotes_app.py`` beside it tests its handlers against the ``ws_server`` fixture.
"""

from __future__ import annotations

from trio_ws_events import WebSocket, WebSocketError


class QuotesClient:
    """Subscribes to ``symbol`` on open; keeps the latest price; records how it ended.

    The protocol: the client sends ``subscribe SYMBOL``; the server sends ``price SYMBOL
    VALUE`` lines; the client answers a ``ping?`` text with ``pong!``; the server closes with
    4004 for an unknown symbol.
    """

    def __init__(self, url: str, symbol: str) -> None:
        self.symbol = symbol
        self.prices: list[float] = []
        self.ended: str | None = None
        self.ws = WebSocket(url, protocols=["quotes.v1"])
        self.ws.on_open += self.on_open
        self.ws.on_message += self.on_message
        self.ws.on_closed += self.on_closed
        self.ws.on_error += self.on_error

    def on_open(self, ws: WebSocket) -> None:
        ws.send(f"subscribe {self.symbol}")

    def on_message(self, ws: WebSocket, message: str) -> None:
        if message == "ping?":
            ws.send("pong!")
            return
        kind, symbol, value = message.split()
        if kind == "price" and symbol == self.symbol:
            self.prices.append(float(value))

    def on_closed(self, ws: WebSocket, code: int, reason: str) -> None:
        self.ended = "unknown symbol" if code == 4004 else f"closed {code}"

    def on_error(self, ws: WebSocket, error: WebSocketError) -> None:
        self.ended = f"error {type(error).__name__}"
