"""The pytest plugin under its first name: ``-p trio_ws_events.pytest_plugin`` keeps working.

The plugin lives in [`trio_ws_events.testing.pytest_plugin`][trio_ws_events.testing.pytest_plugin],
which the ``pytest11`` entry point loads. This module re-exports its fixtures and names, so
configurations that load the plugin by this path (``-p``, ``pytest_plugins``), with plugin
autoloading on or off, get the same fixtures; being a module of its own, it can be registered
beside the entry point's without pytest refusing a module registered twice.
"""

from __future__ import annotations

from .testing.pytest_plugin import (
    NEEDS_PYTEST_TRIO,
    ScriptedServerFactory,
    ws_echo_server,
    ws_server,
)

__all__ = ["NEEDS_PYTEST_TRIO", "ScriptedServerFactory", "ws_echo_server", "ws_server"]
