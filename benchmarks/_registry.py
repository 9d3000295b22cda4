"""The registry of the clients the runner measures: one entry per column of the report.

Standard library only: the runner and every worker read it without importing any
client; a worker imports the adapter class of its own client only.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CLIENTS", "CLIENTS_BY_KEY", "REFERENCE", "ClientInfo"]


@dataclass(frozen=True)
class ClientInfo:
    """One row of the registry: a client the runner can measure.

    The adapter class (``module``.``cls``) is imported by the client's worker process
    only, so that the runner and every other worker import nothing of it. Adding a
    client is one adapter class (see ``_workloads.TaskClient`` for a task-style client)
    and one entry in ``CLIENTS``.
    """

    key: str  # the name on the command line (--clients) and in the JSON
    label: str  # the column title in the report
    module: str  # where the adapter class lives
    cls: str
    loop: str  # "trio", "asyncio" (constructed with use_uvloop=) or "none"


CLIENTS = (
    ClientInfo("ours", "trio-ws-events", "benchmarks._ours", "Ours", "trio"),
    ClientInfo(
        "trio-websocket",
        "raw trio-websocket",
        "benchmarks._trio_clients",
        "RawTrioWebsocket",
        "trio",
    ),
    ClientInfo(
        "websockets-trio", "websockets (Trio)", "benchmarks._trio_clients", "WebsocketsTrio", "trio"
    ),
    ClientInfo(
        "websockets-asyncio",
        "websockets (asyncio)",
        "benchmarks._asyncio_clients",
        "WebsocketsAsyncio",
        "asyncio",
    ),
    ClientInfo("aiohttp", "aiohttp", "benchmarks._asyncio_clients", "Aiohttp", "asyncio"),
    # Our events over trio-websocket: its engine, and a connection adopted (issue 13).
    ClientInfo(
        "ours-tw",
        "trio-ws-events (trio-websocket engine)",
        "benchmarks._engine_clients",
        "OursTrioWebsocketEngine",
        "trio",
    ),
    ClientInfo(
        "ours-adopted",
        "trio-ws-events (adopted trio-websocket)",
        "benchmarks._engine_clients",
        "OursAdopted",
        "trio",
    ),
    ClientInfo("picows", "picows", "benchmarks._picows_client", "Picows", "asyncio"),
    ClientInfo("trio-floor", "trio floor", "benchmarks._trio_clients", "TrioFloor", "trio"),
    ClientInfo("raw-socket", "raw socket", "benchmarks._raw_client", "RawSocket", "none"),
    # Over HTTP/2 beside HTTP/1.1, against a Hypercorn each worker starts (issue 17).
    ClientInfo("ours-h1", "ours, HTTP/1.1 (Hypercorn)", "benchmarks._h2_client", "OursH1", "trio"),
    ClientInfo(
        "ours-h2", "ours, HTTP/2 h2c (Hypercorn)", "benchmarks._h2_client", "OursH2", "trio"
    ),
    ClientInfo(
        "ours-h1-tls",
        "ours, HTTP/1.1 TLS (Hypercorn)",
        "benchmarks._h2_client",
        "OursH1Tls",
        "trio",
    ),
    ClientInfo(
        "ours-h2-tls", "ours, HTTP/2 TLS (Hypercorn)", "benchmarks._h2_client", "OursH2Tls", "trio"
    ),
)
CLIENTS_BY_KEY = {c.key: c for c in CLIENTS}
REFERENCE = "trio-websocket"
"""Ratios are taken against this client (raw trio-websocket, as in issue 8)."""
