"""Fixtures that start the peers the tests talk to, all on 127.0.0.1.

``echo_url``
    The URL of trio-websocket's echo server (``trio_ws_events.testing.serve_echo``), in-process.
``websockets_server``
    A factory: ``url = await websockets_server("echo")`` starts ``peers/websockets_server.py``
    in a subprocess with that mode and returns its URL; the process is killed at teardown.
``raw_server``
    A factory: ``server = await raw_server(script)`` starts the scriptable raw-TCP server
    (``peers/raw_server.py``) and returns its :class:`~peers.raw_server.RawServer`, with
    ``server.url``; call ``await server.wait_finished()`` so the script's assertions run.

``way``
    The way in (``ways.py``): a test taking it runs with our engine, with
    ``engine="trio-websocket"`` and over an adopted trio-websocket connection.

``node_server``
    A factory: ``url = await node_server("deflate")`` starts Node's ws server
    (``peers/node/server.js``) in a subprocess; the test skips where Node or its ws package
    is missing (and fails in CI).

All of them run in pytest-trio's ``nursery`` fixture, which is cancelled when the test ends.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
import trio
import trustme
from peers.proxy_server import ProxyProcess
from peers.raw_server import RawServer, Script, StartRawServer, serve_raw
from peers.tls_server import TLSServer, serve_tls_echo
from peers.websockets_server import StartWebSocketsServer
from recorder import start_port_printer
from ways import WAYS, Way

from trio_ws_events.testing import serve_echo

# The factory types are re-exported: tests annotate their fixture arguments with them.
__all__ = ["StartRawServer", "StartWebSocketsServer", "echo_url", "raw_server", "websockets_server"]

WEBSOCKETS_SERVER = Path(__file__).parent / "peers" / "websockets_server.py"
#: How long a subprocess peer may take to start and print its port.
STARTUP_TIMEOUT = 15.0


@pytest.fixture
async def echo_url(nursery: trio.Nursery) -> str:
    """The ``ws://127.0.0.1:<port>/`` URL of an in-process trio-websocket echo server."""
    url: str = await nursery.start(serve_echo)
    return url


@pytest.fixture(params=WAYS)
def way(request: pytest.FixtureRequest, nursery: trio.Nursery) -> Way:
    """One of the three ways in (``ways.py``): tests taking it run once per way."""
    return Way(request.param, nursery)


@pytest.fixture
async def raw_server(nursery: trio.Nursery) -> StartRawServer:
    """A factory starting a raw-TCP server that runs ``script`` on each connection."""

    async def start(script: Script, *, script_timeout: float = 10.0) -> RawServer:
        start_server = partial(serve_raw, script, script_timeout=script_timeout)
        server: RawServer = await nursery.start(start_server)
        return server

    return start


@pytest.fixture
async def websockets_server(nursery: trio.Nursery) -> StartWebSocketsServer:
    """A factory starting ``websockets_server.py MODE...`` in a subprocess, returning its URL."""

    async def start(*mode: str) -> str:
        command = [sys.executable, str(WEBSOCKETS_SERVER), *(mode or ("echo",))]
        # Cancelling the nursery at teardown makes run_process terminate (then kill) it.
        _, port = await start_port_printer(nursery, command, STARTUP_TIMEOUT)
        return f"ws://127.0.0.1:{port}/"

    return start


# ---------------------------------------------------------------- handshake, TLS and proxies

#: The user and password that the ``auth_proxy`` fixture demands.
PROXY_CREDENTIALS = ("alice", "pr0xy-s3cret")


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A trustme certificate authority, made once per test session."""
    return trustme.CA()


@pytest.fixture
async def tls_server(nursery: trio.Nursery, ca: trustme.CA) -> TLSServer:
    """A ``wss://`` echo server on 127.0.0.1 with a certificate from ``ca``."""
    server: TLSServer = await nursery.start(serve_tls_echo, ca)
    return server


@pytest.fixture(scope="session")
def open_proxy() -> Iterator[ProxyProcess]:
    """pproxy (HTTP CONNECT and SOCKS5, no password) in a subprocess, for the whole session."""
    proxy = ProxyProcess()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def auth_proxy() -> Iterator[ProxyProcess]:
    """pproxy demanding :data:`PROXY_CREDENTIALS` on every connection, for the whole session."""
    proxy = ProxyProcess(PROXY_CREDENTIALS)
    yield proxy
    proxy.stop()


NODE_PEER = Path(__file__).parent / "peers" / "node"
StartNodeServer = Callable[..., Awaitable[str]]


@pytest.fixture
def node() -> str:
    """The ``node`` executable, with the ws package installed; the test skips without them.

    A plain fixture, not an async one: a skip raised inside a pytest-trio fixture is reported
    as "_pytest/python.py: Skipped", without its reason.
    """
    node = shutil.which("node")
    installed = (NODE_PEER / "node_modules" / "ws").is_dir()
    if node is None or not installed:
        why = "node is not installed" if node is None else "run `npm ci` in tests/peers/node"
        if os.environ.get("CI"):
            pytest.fail(f"the Node peer is required in CI: {why}")
        pytest.skip(why)
    return node


@pytest.fixture
async def node_server(nursery: trio.Nursery, node: str) -> StartNodeServer:
    """A factory starting Node's ws echo server (tests/peers/node) in a subprocess."""

    async def start(*mode: str) -> str:
        command = [node, str(NODE_PEER / "server.js"), *mode]
        _, port = await start_port_printer(nursery, command, STARTUP_TIMEOUT)
        return f"ws://127.0.0.1:{port}/"

    return start
