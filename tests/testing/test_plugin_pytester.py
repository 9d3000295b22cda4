"""The plugin as users meet it: a test file of theirs, run by pytest with the plugin installed."""

from __future__ import annotations

import textwrap

import pytest

from trio_ws_events.pytest_plugin import NEEDS_PYTEST_TRIO

pytest_plugins = ["pytester"]

USER_TESTS = """
    import trio
    from trio_ws_events import WebSocket

    async def test_echo(ws_echo_server):
        received = []
        ws = WebSocket(ws_echo_server)
        ws.on_open += lambda ws: ws.send("hello")
        ws.on_message += lambda ws, message: received.append(message) or ws.close()
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
        assert received == ["hello"]

    async def test_scripted(ws_server):
        server = ws_server()
        ws = WebSocket(server.url)
        closed = []
        ws.on_closed += lambda ws, code, reason: closed.append((code, reason))
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            conn = await server.accept()
            await conn.close(4000, "bye")
        assert closed == [(4000, "bye")]
"""


def test_user_tests_pass_in_trio_mode(pytester: pytest.Pytester) -> None:
    """A user's pytest-trio tests get both fixtures from the installed plugin."""
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    pytester.makepyfile(test_user=textwrap.dedent(USER_TESTS))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_user_tests_pass_with_the_trio_marker(pytester: pytest.Pytester) -> None:
    """Without trio_mode, @pytest.mark.trio tests get the fixtures too."""
    marked = USER_TESTS.replace("    async def", "    @pytest.mark.trio\n    async def")
    pytester.makepyfile(test_user="import pytest\n" + textwrap.dedent(marked))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


# Not ("trio_ws_events.testing.pytest_plugin", True): that is the entry point's own module,
# and pytest refuses to register one module under two names.
@pytest.mark.parametrize(
    ("module", "autoload"),
    [
        ("trio_ws_events.pytest_plugin", True),
        ("trio_ws_events.pytest_plugin", False),
        ("trio_ws_events.testing.pytest_plugin", False),
    ],
)
def test_plugin_loaded_by_module_path(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, module: str, autoload: bool
) -> None:
    """``-p <module>`` gives the fixtures, whether or not pytest also autoloads the plugin."""
    if not autoload:
        monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    pytester.makepyfile(test_user=textwrap.dedent(USER_TESTS))
    result = pytester.runpytest_subprocess("-p", "trio", "-p", module, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_non_trio_test_gets_a_clear_error(pytester: pytest.Pytester) -> None:
    """A test that is not a Trio test and asks for a fixture errors, saying why."""
    pytester.makepyfile(test_user="def test_sync(ws_server):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*Trio fixtures can only be used by Trio tests*"])


def test_fixture_names_are_free_for_users(pytester: pytest.Pytester) -> None:
    """The plugin adds only ws_-prefixed fixtures; a user's own fixture of that name wins."""
    pytester.makeconftest(
        "import pytest\n\n@pytest.fixture\ndef ws_echo_server():\n    return 'mine'\n"
    )
    pytester.makepyfile(
        test_user="def test_own(ws_echo_server):\n    assert ws_echo_server == 'mine'\n"
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


BLOCK_PYTEST_TRIO = """
    import sys

    # As if pytest-trio were not installed: importing it raises ImportError.
    sys.modules["pytest_trio"] = None
    sys.modules["pytest_trio.plugin"] = None
"""


def test_without_pytest_trio(pytester: pytest.Pytester) -> None:
    """Without pytest-trio the run works, and the fixtures fail with an explanation."""
    pytester.makepyfile(
        block_pytest_trio=textwrap.dedent(BLOCK_PYTEST_TRIO),
        test_user="def test_plain():\n    pass\n\ndef test_fixture(ws_server):\n    pass\n",
    )
    result = pytester.runpytest_subprocess(
        "-p", "block_pytest_trio", "-p", "no:trio", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1, errors=1)
    needs = NEEDS_PYTEST_TRIO.format(name="ws_server")
    result.stdout.fnmatch_lines([f"*{needs[:60]}*"])
