"""Test servers for apps built on trio-ws-events: an echo server and a scriptable server.

Not imported by ``import trio_ws_events``: ``from trio_ws_events import testing``. With
pytest-trio, the ``ws_echo_server`` and ``ws_server`` fixtures of the plugin
([`trio_ws_events.testing.pytest_plugin`][trio_ws_events.testing.pytest_plugin]) give you both
without this import:

    async with open_scripted_server() as server:
        ws = WebSocket(server.url)
        ...  # register the handlers of the app under test, ws.open(nursery)
        conn = await server.accept()
        await conn.send("hello")  # the server speaks...
        assert await conn.receive() == "hello back"  # ...and hears what the client sent
        await conn.close(4000, "bye")  # or conn.drop(): no close frame at all

Everything listens on 127.0.0.1 and picks a free port by default.
"""

from __future__ import annotations

from ._echo import open_echo_server, serve_echo
from ._http import UpgradeRequest
from ._scripted import ClientClosed, ProtocolViolation, ScriptedConnection
from ._scripted_server import ScriptedServer, ScriptedServerFactory, open_scripted_server

__all__ = [
    "ClientClosed",
    "HandshakeRequest",
    "ProtocolViolation",
    "ScriptedConnection",
    "ScriptedServer",
    "ScriptedServerFactory",
    "UpgradeRequest",
    "open_echo_server",
    "open_scripted_server",
    "serve_echo",
]

#: The first name of [`UpgradeRequest`][trio_ws_events.testing.UpgradeRequest], kept as an
#: alias; ``trio_ws_events.HandshakeRequest`` is another class (the client's handshake hook's).
HandshakeRequest = UpgradeRequest

# Tracebacks and generated docs name the public module, not the private one.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
