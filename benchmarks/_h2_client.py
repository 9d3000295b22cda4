"""trio_ws_events.WebSocket over HTTP/2 (``http2=pool``) beside HTTP/1.1, against one server.

The workloads are ``_ours.py``'s own (the event-driven shape users write): only the
WebSocket's options and the server change. Each worker process starts its own
``h2_echo_server.py`` (Hypercorn, which takes both HTTP/1.1 upgrades and RFC 8441 streams
on one port), so the HTTP/1.1 and HTTP/2 columns differ in the client's transport only:

``ours-h1`` / ``ours-h2``
    ``ws://`` by the HTTP/1.1 upgrade / h2c with prior knowledge (``open_h2_pool(h2c=True)``).
``ours-h1-tls`` / ``ours-h2-tls``
    ``wss://`` with a trustme certificate: one TLS handshake per WebSocket / per connection.

Over HTTP/2 the pool lives for the whole run (warm-up included), as an application's would:
W4 then measures opening and closing a WebSocket on a connection that exists, which is
what HTTP/2 changes. The server's CPU column of the runner is not this server's.
"""

from __future__ import annotations

import atexit
import os
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ._common import Job, Meter, stop_child
from ._ours import _OURS_WORKLOADS, OURS_OPTIONS
from ._trio_clients import run_guarded

__all__ = ["OursH1", "OursH1Tls", "OursH2", "OursH2Tls"]

SERVER_SCRIPT = Path(__file__).with_name("h2_echo_server.py")
_BASE = "WebSocket(url, compression=None, max_message_size=None, proxy=None"


class _Server:
    """``h2_echo_server.py`` in a subprocess (TLS when ``tls``); it stops when stdin closes."""

    def __init__(self, tls: bool) -> None:
        cmd = [sys.executable, str(SERVER_SCRIPT), "--port", "0"]
        self.client_context: ssl.SSLContext | None = None
        if tls:
            cmd += self._certificate()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        _pin_away(self.proc.pid)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split(maxsplit=3)
        if len(line) < 4 or line[0] != "READY":
            stop_child(self.proc, grace=5)
            raise RuntimeError(f"h2_echo_server.py did not start (said {line!r})")
        self.port = int(line[2])
        self.description = line[3].strip()
        atexit.register(stop_child, self.proc, 5)

    def _certificate(self) -> list[str]:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1")
        folder = Path(tempfile.mkdtemp(prefix="h2-bench-"))
        certfile, keyfile = folder / "cert.pem", folder / "key.pem"
        cert.cert_chain_pems[0].write_to_path(str(certfile))
        cert.private_key_pem.write_to_path(str(keyfile))
        self.client_context = ssl.create_default_context()
        ca.configure_trust(self.client_context)
        return ["--certfile", str(certfile), "--keyfile", str(keyfile)]


class _OverHypercorn:
    """A column: ``_ours.py``'s workloads against this worker's Hypercorn."""

    key = ""
    http2 = False
    tls = False
    dists = ("trio-ws-events", "trio", "h2", "hypercorn")

    settings = ""

    def __init__(self) -> None:
        self._server = _Server(self.tls)
        # The report's settings column names the server this worker started.
        self.settings = f"{self.settings}; server: {self._server.description}"

    def close(self) -> None:
        """Stop this worker's server (it also stops when the worker exits)."""
        stop_child(self._server.proc, grace=5)

    def run(self, job: Job, url: str, meter: Meter, timeout: float) -> list[int] | None:
        # This worker's Hypercorn is the server of these cells: its CPU is the server's,
        # not "other processes" (which would mark every run noisy and re-run it).
        meter.server_pid = self._server.proc.pid
        scheme = "wss" if self.tls else "ws"
        target = f"{scheme}://127.0.0.1:{self._server.port}/echo"
        result: list[int] | None = run_guarded(self._workload, (job, target, meter), timeout)
        return result

    async def _workload(self, job: Job, url: str, meter: Meter) -> Any:
        from trio_ws_events import open_h2_pool

        workload = _OURS_WORKLOADS[job.workload]
        context = self._server.client_context
        extra: dict[str, Any] = {} if context is None else {"ssl_context": context}
        if not self.http2:
            return await self._with_options(workload, job, url, meter, extra)
        h2_context = None
        if context is not None:
            h2_context = ssl.create_default_context()
            h2_context.load_verify_locations(cadata=_ca_pem(context))
            h2_context.set_alpn_protocols(["h2", "http/1.1"])
        async with open_h2_pool(ssl_context=h2_context, h2c=not self.tls) as pool:
            extra["http2"] = pool
            return await self._with_options(workload, job, url, meter, extra)

    @staticmethod
    async def _with_options(
        workload: Any, job: Job, url: str, meter: Meter, extra: dict[str, Any]
    ) -> Any:
        # This worker process runs this client only: the shared options may be changed.
        OURS_OPTIONS.update(extra)
        try:
            return await workload(job, url, meter)
        finally:
            for name in extra:
                del OURS_OPTIONS[name]


def _pin_away(pid: int) -> None:
    """Move the server off the CPUs this worker was pinned to (the runner's echo server's
    CPU, idle meanwhile), as the runner keeps its own server apart from the clients."""
    try:
        mine = os.sched_getaffinity(0)
        others = set(range(os.cpu_count() or 1)) - mine
        if others:
            os.sched_setaffinity(pid, others)
    except (AttributeError, OSError):
        pass  # no affinity on this platform: the server shares the CPUs


def _ca_pem(context: ssl.SSLContext) -> str:
    """The CA certificates ``context`` trusts, as PEM (for a second context with ALPN)."""
    return "".join(ssl.DER_cert_to_PEM_cert(der) for der in context.get_ca_certs(binary_form=True))


class OursH1(_OverHypercorn):
    """trio_ws_events.WebSocket, HTTP/1.1 upgrade, ws:// to Hypercorn."""

    key = "ours-h1"
    settings = f"{_BASE}), the HTTP/1.1 upgrade"


class OursH2(_OverHypercorn):
    """trio_ws_events.WebSocket with http2=pool, h2c, ws:// to Hypercorn."""

    key = "ours-h2"
    http2 = True
    settings = f"{_BASE}, http2=pool), open_h2_pool(h2c=True)"


class OursH1Tls(_OverHypercorn):
    """trio_ws_events.WebSocket, HTTP/1.1 upgrade, wss:// to Hypercorn."""

    key = "ours-h1-tls"
    tls = True
    settings = f"{_BASE}, ssl_context=...), the HTTP/1.1 upgrade"


class OursH2Tls(_OverHypercorn):
    """trio_ws_events.WebSocket with http2=pool, wss:// (ALPN h2) to Hypercorn."""

    key = "ours-h2-tls"
    http2 = True
    tls = True
    settings = f"{_BASE}, http2=pool), open_h2_pool(ssl_context=..., ALPN h2)"
