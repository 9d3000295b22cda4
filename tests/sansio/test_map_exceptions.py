"""The one translation boundary, ``map_exceptions``: plain exceptions, no I/O."""

from __future__ import annotations

import ssl

import pytest

from trio_ws_events import ConnectError, InvalidStateError
from trio_ws_events._errors import map_exceptions


def _connect_error(exc: Exception) -> ConnectError:
    return ConnectError(f"cannot connect: {exc}")


def test_map_exceptions_translates_and_chains() -> None:
    """A mapped exception leaves as ours, built from it and chained to it."""
    original = ConnectionRefusedError("refused")
    with (
        pytest.raises(ConnectError, match="cannot connect: refused") as info,
        map_exceptions({OSError: _connect_error}),
    ):
        raise original
    assert info.value.__cause__ is original


def test_map_exceptions_first_matching_entry_wins() -> None:
    """Entries are tried in order: a subclass listed first takes precedence."""

    def first(exc: Exception) -> ConnectError:
        return ConnectError("first")

    with (
        pytest.raises(ConnectError, match="first"),
        map_exceptions({ConnectionError: first, OSError: _connect_error}),
    ):
        raise ConnectionResetError("reset")


def test_map_exceptions_keeps_the_cause_the_builder_chose() -> None:
    """A builder may chain to a deeper cause (the SSLError under a stream error)."""
    inner = ssl.SSLCertVerificationError("bad certificate")

    def tls(exc: Exception) -> ConnectError:
        error = ConnectError("tls failed")
        error.__cause__ = inner
        return error

    with pytest.raises(ConnectError) as info, map_exceptions({RuntimeError: tls}):
        raise RuntimeError("wrapped")
    assert info.value.__cause__ is inner


def test_map_exceptions_lets_other_exceptions_through() -> None:
    """Unmapped exceptions, ours included, pass through unchanged."""
    ours = InvalidStateError("closed")
    with pytest.raises(InvalidStateError) as info, map_exceptions({OSError: _connect_error}):
        raise ours
    assert info.value is ours
    with pytest.raises(KeyError), map_exceptions({OSError: _connect_error}):
        raise KeyError("x")
