"""The ``trio-ws-events`` command line: ``demo`` and ``serve``, in-process and as subprocesses.

``connect`` has its own file, ``test_cli_connect.py``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio
import trio_websocket
from recorder import Recorder, read_line

from cli.support import SUBPROCESS_TIMEOUT, cli_process, run_cli
from trio_ws_events import WebSocket
from trio_ws_events._cli import _demo, main
from trio_ws_events._cli._demo import DEMO_BINARY, DEMO_TEXT

EXPECTED_EVENTS = [
    "on_open",
    f"on_message: {DEMO_TEXT!r}",
    f"on_binary: 16 bytes {DEMO_BINARY!r}",
    "on_closed: code=1000 reason='bye'",
]


def _events(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("on_")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


# --- demo ----------------------------------------------------------------------------------


async def test_demo_subprocess_prints_the_walkthrough() -> None:
    """``python -m trio_ws_events demo`` prints the four events in order and exits 0."""
    result = await run_cli("demo")
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, stdout + stderr
    assert _events(stdout) == EXPECTED_EVENTS
    assert re.match(r"echo server listening on ws://127\.0\.0\.1:\d+/\n", stdout)


def test_main_demo_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    """``main(["demo"])`` runs the walkthrough and returns 0."""
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert _events(out) == EXPECTED_EVENTS
    # The sends happen in on_open and the close after both echoes, in that order.
    lines = out.splitlines()
    assert lines.index("on_open") < lines.index(f"  -> send({DEMO_TEXT!r})")
    assert lines.index(f"on_binary: 16 bytes {DEMO_BINARY!r}") < lines.index(
        "  -> close(1000, 'bye')"
    )


def test_main_demo_reports_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """When the connection fails the demo prints on_error and returns 1."""

    @contextlib.asynccontextmanager
    async def nobody_listening() -> AsyncIterator[str]:
        yield f"ws://127.0.0.1:{_free_port()}/"

    monkeypatch.setattr(_demo, "open_echo_server", nobody_listening)
    assert main(["demo"]) == 1
    captured = capsys.readouterr()
    events = _events(captured.out)
    assert len(events) == 1
    assert events[0].startswith("on_error: ConnectError (code=1006): ")
    assert "did not end with both echoes" in captured.err


# The console script sits next to the interpreter in a venv, which need not be on PATH.
CONSOLE_SCRIPT = shutil.which(
    "trio-ws-events",
    path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)]),
)


@pytest.mark.skipif(CONSOLE_SCRIPT is None, reason="console script not installed")
async def test_console_script_demo() -> None:
    """The installed ``trio-ws-events`` console script runs the demo too."""
    script = CONSOLE_SCRIPT
    assert script is not None
    with trio.fail_after(SUBPROCESS_TIMEOUT):
        result = await trio.run_process([script, "demo"], capture_stdout=True, check=False)
    assert result.returncode == 0
    assert _events(result.stdout.decode()) == EXPECTED_EVENTS


# --- serve -----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _serve_process(*args: str) -> AsyncIterator[tuple[trio.Process, str]]:
    """Start ``python -m trio_ws_events serve ARGS``; yield it and the URL it printed."""
    async with cli_process("serve", *args) as process:
        assert process.stdout is not None
        with trio.fail_after(SUBPROCESS_TIMEOUT):
            line = await read_line(process.stdout)
        match = re.fullmatch(r"echo server listening on (ws://\S+) \(Ctrl-C to stop\)", line)
        assert match, f"unexpected first line {line!r}"
        yield process, match[1]


async def _echo_through(url: str) -> None:
    """Round-trip text, binary and a close code through the server at ``url``."""
    with trio.fail_after(10):
        async with trio_websocket.open_websocket_url(url, max_message_size=4 * 2**20) as ws:
            big = os.urandom(2**20 + 1)
            await ws.send_message("over the wire")
            await ws.send_message(big)
            assert await ws.get_message() == "over the wire"
            assert await ws.get_message() == big
            await ws.aclose(4000, "done")
    assert ws.closed is not None
    assert (ws.closed.code, ws.closed.reason) == (4000, "done")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
async def test_serve_subprocess_echoes_until_signalled(stop: signal.Signals) -> None:
    """``serve --port 0`` prints its URL, echoes, and exits 0 on SIGINT or SIGTERM."""
    async with _serve_process("--port", "0") as (process, url):
        assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/", url)
        await _echo_through(url)
        process.send_signal(stop)
        with trio.fail_after(SUBPROCESS_TIMEOUT):
            await process.wait()
        assert process.returncode == 0
        assert process.stdout is not None
        rest = await process.stdout.receive_some()
        assert b"echo server stopped" in rest


async def test_serve_subprocess_binds_the_given_port() -> None:
    """``serve --host H --port N`` listens exactly there."""
    port = _free_port()
    async with _serve_process("--host", "127.0.0.1", "--port", str(port)) as (_, url):
        assert url == f"ws://127.0.0.1:{port}/"
        await _echo_through(url + "any/path")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
async def test_serve_subprocess_stopping_closes_clients_with_1001(stop: signal.Signals) -> None:
    """Stopping ``serve`` sends each client a 1001 close frame: they see on_closed, not an error."""
    async with _serve_process("--port", "0") as (process, url):
        clients = [WebSocket(url), WebSocket(url + "second")]
        recorders = [Recorder(ws) for ws in clients]
        opened = trio.Semaphore(0)
        for ws in clients:
            ws.on_open += lambda ws: opened.release()
        with trio.fail_after(SUBPROCESS_TIMEOUT):
            async with trio.open_nursery() as nursery:
                for ws in clients:
                    ws.open(nursery)
                for _ in clients:
                    await opened.acquire()
                process.send_signal(stop)
            await process.wait()
        assert process.returncode == 0
        assert process.stdout is not None
        rest = await process.stdout.receive_some()
    assert [recorder.events for recorder in recorders] == [[("open",), ("closed", 1001, "")]] * 2
    assert b"echo server stopped: closed 2 connection(s) with 1001" in rest


@pytest.mark.parametrize("port", ["70000", "-1", "65536", "http"])
def test_main_serve_port_out_of_range(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``serve --port`` outside 0-65535 is a usage error on one line, before any listening."""
    assert main(["serve", "--port", port]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert re.search(rf"argument --port: port must be (0-65535|a number), got '{port}'", errors[0])


def test_main_serve_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    """``serve`` on a port already taken says so on stderr and returns 1."""
    with _busy_port() as port:
        assert main(["serve", "--port", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


# --- usage -------------------------------------------------------------------------------------


def test_main_without_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """No subcommand: usage on stderr and status 2, returned rather than raised."""
    assert main([]) == 2
    assert "usage: trio-ws-events" in capsys.readouterr().err


def test_main_help_returns_zero(capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` lists the three commands and returns 0."""
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "connect" in out
    assert "demo" in out
    assert "serve" in out


def test_connect_help_lists_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    """``connect --help`` documents every option of the issue's command line."""
    assert main(["connect", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--header", "--subprotocol", "--ping-interval", "--binary", "--no-color"):
        assert option in out
    assert "--wait" in out
