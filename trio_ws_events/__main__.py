"""``python -m trio_ws_events``: the same command line as ``trio-ws-events``."""

from __future__ import annotations

from ._cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
