"""Every Python example of the documentation runs, against the embedded echo server.

The docs hold no Python code of their own: each ```python block of ``docs/*.md`` includes a
file of ``examples/`` (or a marked section of one) with pymdownx.snippets' ``--8<--``. This
file checks that rule, then runs each example as a script with its ``ws://127.0.0.1:8765/``
pointed at an in-process echo server, and the example app's tests through pytester.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from http2.conftest import start_hypercorn_h2c

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
#: The URL the examples use; the tests substitute the echo server's.
EXAMPLE_URL = "ws://127.0.0.1:8765/"
#: Pages that other work writes, with Python blocks of their own: only compiled here.
WRITTEN_ELSEWHERE = frozenset({"handshake.md", "reliability.md", "benchmarks.md"})
#: The example app and its tests: run by pytester, not as a script.
APP, APP_TESTS = "quotes_app.py", "test_quotes_app.py"
#: Reads standard input and handles signals: run as a subprocess, with a pipe and SIGINT.
STDIN = "stdin_lines.py"
#: Needs an RFC 8441 server: run against Hypercorn (h2c) instead of the echo server.
HTTP2 = "http2_pool.py"

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
_SNIPPET = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"$')

#: What each script must print (substrings of its standard output), beyond running cleanly.
EXPECTED_OUTPUT = {
    "api_tour.py": ["text: text", "binary: b'bytes'", "closed: 1000 bye", "CLOSED 1000 bye 0 ()"],
    "async_for.py": [
        "got: hello",
        "got: b'\\x01\\x02'",
        "loop over; closed with 1000 done",
        "handler: ready\nloop: ready\nhandler: after the loop",
        "could not connect: cannot connect to ws://127.0.0.1:1/",
    ],
    "close_when_done.py": ["reply: anyone there?", "the nursery is done; closed with 1000"],
    "compression.py": [
        "offer: permessage-deflate; client_no_context_takeover; server_max_window_bits=12; "
        "client_max_window_bits=12",
        "refused: client_max_window_bits must be from 9 to 15 or None",
        "negotiated: None closed with 1000",
    ],
    "close_codes.py": ["refused: close code 1005 may not be sent", "closed: 4000 'shutting"],
    "connect_error.py": ["could not connect: cannot connect to ws://127.0.0.1:1/"],
    "decorator.py": ["HELLO"],
    "flow_control.py": ["echoed back: 8388608 bytes; sent: 32 messages"],
    "from_browser.py": ["closed 1000 done chat"],
    "from_websocket_client.py": ["received: Hello, World", "closed: 1000"],
    "handle_errors.py": ["could not connect: "],
    "http2_pool.py": ["10 replies; distinct local addresses: 1", "HTTP/2 connections opened: 1"],
    "handler_raises.py": ["on_error: KeyError closed with 1011", "a handler raised: (KeyError"],
    "keepalive.py": ["round trip: ", "latency "],
    "own_transport.py": ["echo: over my own stream"],
    "server_broadcast.py": ["heard by 3 clients: news for everyone"],
    "server_chat.py": ["* alice joined\n<alice> hi bob\n* alice left"],
    "server_echo.py": ["client got: HELLO", "client left: 1000 thanks"],
    "ways_in.py": ["default: 1000 bye", "trio-websocket: 1000 bye", "adopted: 1000 bye"],
    "logging_and_stats.py": [
        "sent 2 messages (1005 bytes)",
        "received 2 messages (1005 bytes)",
        "from ('127.0.0.1', ",
        "to ('127.0.0.1', ",
    ],
    "ping_events.py": [
        "server pinged: b'heartbeat'\nthe server got its pong\npong: b'custom payload'",
        "closed with 1000",
    ],
    "quickstart.py": ["closed: 1000 bye"],
    "reconnect.py": [
        "open (connection 1)",
        "reconnecting: attempt 1 in ",
        "reconnecting: attempt 2 in 1.0s after HandshakeRejected",
        "server got: sent while disconnected (1) | sent while disconnected (2)",
        "closed: 1000 bye",
    ],
    "reply_if_open.py": ["got: first", "got: ack ack ack first"],
    "send_threadsafe.py": ["echoed back: 100 messages; in order per worker: True"],
    "short_lived_tokens.py": ["opened with a fresh token; tokens fetched: 1"],
    "scripted_server.py": ["server got: desserts", "client saw: 4000 that is all"],
    "script_form.py": ["echo: hello", "closed with 1000 ''"],
    "send_stream.py": [
        "echoed 8388608 bytes back; same as sent: True",
        "text echo: héllo wörld",
        "closed with 1000",
    ],
    "streaming.py": ["streamed 8388608 bytes", "same as sent; closed with 1000"],
    "unsent.py": ["ended: ConnectError code 1006", "to resend: []"],
    "walkthrough.py": [
        "WebSocket open!",
        "Text message received from server: Message to the server",
        "Binary message received from server. Length: 16",
        "WebSocket closed! code=1000 reason='bye'",
        "state: CLOSED close code: 1000",
    ],
}

SCRIPTS = sorted(
    path.name for path in EXAMPLES.glob("*.py") if path.name not in (APP, APP_TESTS, STDIN)
)


def _python_blocks(page: Path) -> list[tuple[int, list[str]]]:
    """The fenced ``python`` blocks of ``page``: (line of the fence, lines inside)."""
    blocks: list[tuple[int, list[str]]] = []
    fence: str | None = None
    lang, start, indent = "", 0, 0
    lines: list[str] = []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence, lang, start, lines = match["fence"], match["lang"], number, []
                indent = len(match["indent"])
        elif match and match["fence"].startswith(fence) and not line.strip().strip(fence[0]):
            if lang in ("python", "py", "python3", "pycon"):
                blocks.append((start, lines))
            fence = None
        else:
            lines.append(line[indent:] if not line[:indent].strip() else line)
    return blocks


def _included() -> dict[str, set[str | None]]:
    """The example files the docs include, with the sections included from each."""
    included: dict[str, set[str | None]] = {}
    for page in DOCS.rglob("*.md"):
        for _, lines in _python_blocks(page):
            for line in lines:
                match = _SNIPPET.match(line.strip())
                if match and match["path"].startswith("examples/"):
                    name = match["path"].removeprefix("examples/")
                    included.setdefault(name, set()).add(match["section"])
    return included


def test_docs_python_blocks_only_include_examples() -> None:
    """Each ```python block of the docs is made of ``--8<-- "examples/..."`` lines only."""
    problems = []
    for page in sorted(DOCS.rglob("*.md")):
        if page.name in WRITTEN_ELSEWHERE:
            continue
        for line_number, lines in _python_blocks(page):
            for line in lines:
                match = _SNIPPET.match(line.strip())
                if line.strip() and not (match and match["path"].startswith("examples/")):
                    where = f"{page.relative_to(ROOT)}:{line_number}"
                    problems.append(f"{where}: code outside examples/: {line!r}")
                    break
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(WRITTEN_ELSEWHERE))
def test_pages_written_elsewhere_compile(name: str) -> None:
    """The inline Python blocks of those pages at least compile (they are not run)."""
    page = DOCS / name
    if not page.exists():
        pytest.skip(f"docs/{name} is not written yet")
    for line_number, lines in _python_blocks(page):
        if any(_SNIPPET.match(line.strip()) for line in lines):
            continue
        source = "\n".join(lines) + "\n"
        compile(source, f"{page}:{line_number}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def test_docs_include_existing_sections() -> None:
    """Every included example and section exists, and every example is shown somewhere."""
    included = _included()
    for name, sections in included.items():
        source = (EXAMPLES / name).read_text(encoding="utf-8")
        for section in sections - {None}:
            assert f"# --8<-- [start:{section}]" in source, f"{name}: no section {section}"
            assert f"# --8<-- [end:{section}]" in source, f"{name}: no end of {section}"
    assert set(included) == {path.name for path in EXAMPLES.glob("*.py")}


def test_every_script_has_expected_output() -> None:
    """A new example gets its expected output listed here."""
    assert set(SCRIPTS) == set(EXPECTED_OUTPUT)


@pytest.mark.parametrize("name", SCRIPTS)
async def test_example_runs(
    name: str, ws_echo_server: str, capsys: pytest.CaptureFixture[str], nursery: trio.Nursery
) -> None:
    """The example runs to the end against the echo server and prints what it should."""
    url = ws_echo_server
    if name == HTTP2:
        url = (await start_hypercorn_h2c(nursery))[0] + "/"
    source = (EXAMPLES / name).read_text(encoding="utf-8").replace(EXAMPLE_URL, url)
    code = compile(source, str(EXAMPLES / name), "exec")

    def run() -> None:
        # Each example calls trio.run() itself: it gets a thread of its own for that.
        exec(code, {"__name__": "__main__", "__file__": str(EXAMPLES / name)})

    with trio.fail_after(30):
        await trio.to_thread.run_sync(run)
    out = capsys.readouterr().out
    for expected in EXPECTED_OUTPUT[name]:
        assert expected in out, f"{name} did not print {expected!r}; it printed:\n{out}"


def test_example_app_tests_pass(pytester: pytest.Pytester) -> None:
    """The documented tests of the example app pass with the installed plugin."""
    for name in (APP, APP_TESTS):
        shutil.copy(EXAMPLES / name, pytester.path / name)
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


pytest_plugins = ["pytester"]


async def _run_stdin_example(url: str, stdin: bytes, interrupt: bool) -> tuple[int, str, str]:
    """Run examples/stdin_lines.py against ``url``; with ``interrupt``, keep stdin open and
    send SIGINT after the first echo. Return the exit status, stdout and stderr."""
    process = await trio.lowlevel.open_process(
        [sys.executable, str(EXAMPLES / STDIN), url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    out, err = b"", b""
    try:
        with trio.fail_after(60):
            await process.stdin.send_all(stdin)
            if not interrupt:
                await process.stdin.aclose()  # the end of input
            else:
                while b"\n" not in out:
                    out += await process.stdout.receive_some()
                process.send_signal(signal.SIGINT)
            while chunk := await process.stdout.receive_some():
                out += chunk
            while chunk := await process.stderr.receive_some():
                err += chunk
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()
            for stream in (process.stdin, process.stdout, process.stderr):
                await stream.aclose()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_stdin_example_sends_lines_until_end_of_input(ws_echo_server: str) -> None:
    """Each line goes out and its echo is printed; the end of input closes with 1000."""
    status, out, err = await _run_stdin_example(ws_echo_server, b"one\ntwo\nthree", False)
    assert (status, err) == (0, "")
    assert out.splitlines() == ["< one", "< two", "< three", "closed: 1000 ''"]


async def test_stdin_example_ctrl_c_closes_with_1001_without_traceback(
    ws_echo_server: str,
) -> None:
    """SIGINT while stdin is still open closes with 1001 and exits 0, with no traceback."""
    status, out, err = await _run_stdin_example(ws_echo_server, b"first\n", True)
    assert (status, err) == (0, "")
    assert out.splitlines() == ["< first", "closed: 1001 ''"]
