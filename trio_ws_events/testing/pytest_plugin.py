"""pytest fixtures for testing apps built on trio-ws-events; loaded through ``pytest11``.

Installing trio-ws-events registers this plugin with pytest (under the name
``trio_ws_events``). Where plugin autoloading is off, ``-p trio_ws_events.pytest_plugin``
loads it (that module re-exports this one). Its fixtures are for
`pytest-trio <https://pytest-trio.readthedocs.io/>`_ tests (``trio_mode = true``, or
``@pytest.mark.trio``):

``ws_echo_server``
    The ``ws://127.0.0.1:<port>/`` URL of an in-process echo server.
``ws_server``
    A factory: ``server = ws_server()`` starts a [`ScriptedServer`][]
    and returns it; the test accepts connections and plays the server's part.

Both servers stop when the test ends. Without pytest-trio installed, the fixtures fail the
tests that use them with a message saying so; the plugin itself never breaks a test run.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest
import trio

from ._echo import open_echo_server
from ._scripted_server import ScriptedServer, ScriptedServerFactory

__all__ = ["ScriptedServerFactory", "ws_echo_server", "ws_server"]

#: Why a fixture cannot run, when pytest-trio is missing.
NEEDS_PYTEST_TRIO = (
    "the {name} fixture of trio-ws-events needs pytest-trio: `pip install pytest-trio`, then "
    "set `trio_mode = true` in your pytest configuration or mark the test @pytest.mark.trio"
)


_F = TypeVar("_F", bound=Callable[..., Any])


def _trio_fixture_decorator() -> Callable[[_F], _F] | None:
    """pytest-trio's ``trio_fixture``, or ``None`` when pytest-trio is not installed.

    ``trio_fixture`` (rather than a plain async fixture) makes a non-trio test that asks for
    one of these fixtures fail with pytest-trio's "Trio fixtures can only be used by Trio
    tests", which says what to do.
    """
    try:
        module = importlib.import_module("pytest_trio")
    except ImportError:
        return None
    decorator: Callable[[_F], _F] = module.trio_fixture
    return decorator


_trio_fixture = _trio_fixture_decorator()

if _trio_fixture is None:

    def _missing(name: str) -> Callable[[], object]:
        def fixture() -> object:
            pytest.fail(NEEDS_PYTEST_TRIO.format(name=name), pytrace=False)

        fixture.__name__ = name
        fixture.__doc__ = f"Unavailable: {NEEDS_PYTEST_TRIO.format(name=name)}."
        return pytest.fixture(name=name)(fixture)

    ws_echo_server = _missing("ws_echo_server")
    ws_server = _missing("ws_server")

else:

    @_trio_fixture
    async def ws_echo_server() -> AsyncIterator[str]:
        """The URL of an in-process echo server, such as ``ws://127.0.0.1:53211/``.

        Text comes back as text, binary as binary, and a client's close code and reason are
        echoed. Any path is accepted; the first subprotocol offered is selected.
        """
        async with open_echo_server() as url:
            yield url

    @_trio_fixture
    async def ws_server() -> AsyncIterator[ScriptedServerFactory]:
        """A factory of scripted servers: ``server = ws_server()``, then ``server.accept()``.

        Each server listens as soon as it is made, serves while the test runs and stops at
        teardown, dropping whatever connection is still open. A client that breaks the
        protocol fails the test with [`ProtocolViolation`][].
        """
        async with trio.open_nursery() as nursery:

            def start(*, host: str = "127.0.0.1", port: int = 0) -> ScriptedServer:
                server = ScriptedServer(host, port)
                nursery.start_soon(server.serve)
                return server

            yield start
            nursery.cancel_scope.cancel()
