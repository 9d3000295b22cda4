"""The HTTP/2 columns of the benchmark: W4 and W5 through ``_h2_client``'s adapters, each
against the Hypercorn its worker starts, over HTTP/1.1 and HTTP/2 (cleartext and TLS)."""

from __future__ import annotations

import pytest

from benchmarks._common import Job, Meter
from benchmarks._h2_client import OursH1, OursH1Tls, OursH2, OursH2Tls, _OverHypercorn

JOBS = {
    "w4": Job("w4", 0, True, 5, warmup=1),
    "w5": Job("w5", 16, True, 5, rounds=3),
}


@pytest.mark.parametrize("client_cls", [OursH1, OursH2, OursH1Tls, OursH2Tls])
@pytest.mark.parametrize("workload", sorted(JOBS))
def test_h2_client_runs_w4_and_w5_against_its_hypercorn(
    client_cls: type[_OverHypercorn], workload: str
) -> None:
    """Each adapter connects, echoes and closes through its own server; the meter brackets
    a timed part, and the settings name the server that answered."""
    client = client_cls()
    try:
        meter = Meter(server_pid=None)
        assert client.run(JOBS[workload], "ws://unused/", meter, timeout=30) is None
        assert meter.wall > 0
        assert "hypercorn" in client.settings
    finally:
        client.close()
