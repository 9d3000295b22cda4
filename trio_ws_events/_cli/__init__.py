"""The ``trio-ws-events`` command: ``connect``, ``serve`` and ``demo``.

``trio-ws-events connect URL`` talks to a server from the terminal or a pipe (``_connect``).
``trio-ws-events demo`` (or ``python -m trio_ws_events demo``) starts the embedded echo server
on a free 127.0.0.1 port and runs the walkthrough against it, printing each event as it fires
(``_demo``). ``trio-ws-events serve --port N`` runs the echo server alone until Ctrl-C, which
closes its clients with 1001 (``_serve``). ``_main`` parses the command line.
"""

from __future__ import annotations

from ._main import main

__all__ = ["main"]
