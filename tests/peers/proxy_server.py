"""A real proxy server for the proxy tests: pproxy (from PyPI) in a subprocess.

``python proxy_server.py PPROXY_ARGS...`` runs ``pproxy PPROXY_ARGS...`` with two fixes that
pproxy 2.7.9 needs on current Pythons: it must not pick up uvloop (recent uvloop refuses its
``asyncio.get_event_loop()`` call) and it must find an event loop already set.

:class:`ProxyProcess` starts one from a test fixture, learns its port from the line pproxy
prints (``Serving on ipv4 127.0.0.1:PORT by http,socks5``), and keeps its verbose log, in which
every tunnel shows as ``http 127.0.0.1:PORT -> HOST:PORT`` or ``socks5 ... -> HOST:PORT``.
"""

from __future__ import annotations

import asyncio
import re
import runpy
import subprocess
import sys
import threading
import time
from typing import IO

__all__ = ["ProxyProcess", "main"]

#: How long pproxy may take to start and print its port.
STARTUP_TIMEOUT = 15.0
_SERVING = re.compile(r"Serving on .*?:(\d+) by ")


class ProxyProcess:
    """pproxy listening on 127.0.0.1 for HTTP CONNECT and SOCKS5, optionally with a password.

    Args:
        credentials: ``(user, password)`` the proxy demands, or ``None`` for an open proxy.
            pproxy is told to check them on every connection (``--auth 0``), not once per
            client address.

    Raises:
        RuntimeError: pproxy did not print its port within :data:`STARTUP_TIMEOUT`.
    """

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        listen = "http+socks5://127.0.0.1:0"
        if credentials is not None:
            listen += f"#{credentials[0]}:{credentials[1]}"
        command = [sys.executable, "-u", __file__, "-l", listen, "--auth", "0", "-v"]
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self._process.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self._process.stdout,))
        self._reader.daemon = True
        self._reader.start()
        line = self.wait_for(_SERVING.pattern, timeout=STARTUP_TIMEOUT)
        if line is None:
            self.stop()
            raise RuntimeError(f"pproxy did not start: {self.lines}")
        match = _SERVING.search(line)
        assert match is not None
        self.port = int(match.group(1))

    def url(self, scheme: str = "http", credentials: tuple[str, str] | None = None) -> str:
        """The proxy URL to pass as ``proxy=``, e.g. ``socks5://user:pw@127.0.0.1:PORT``."""
        auth = f"{credentials[0]}:{credentials[1]}@" if credentials is not None else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}"

    def wait_for(self, pattern: str, *, timeout: float = 5.0, start: int = 0) -> str | None:
        """The first log line from index ``start`` matching ``pattern``, waiting if needed."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[start:]:
                    if regex.search(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._process.poll() is not None:
                    return None
                self._changed.wait(remaining)

    def stop(self) -> None:
        """Terminate pproxy (kill it if it lingers)."""
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join(timeout=5)

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()


def main() -> None:
    """Run pproxy with ``sys.argv[1:]``, without uvloop and with an event loop set."""
    sys.modules["uvloop"] = None  # type: ignore[assignment]  # makes `import uvloop` fail
    asyncio.set_event_loop(asyncio.new_event_loop())
    sys.argv = ["pproxy", *sys.argv[1:]]
    runpy.run_module("pproxy", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
