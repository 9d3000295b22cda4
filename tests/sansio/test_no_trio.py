"""The sans-I/O layer stays without I/O: no module of ``trio_ws_events._sansio`` imports trio."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import textwrap

import trio_ws_events
from trio_ws_events import _sansio

#: Loaded in a fresh interpreter where ``import trio`` fails; the package's own door
#: (``__init__``) imports the driver, so a bare module object stands in for it.
_CHECK = textwrap.dedent(
    """
    import importlib, sys, types
    sys.modules["trio"] = None
    package = types.ModuleType("trio_ws_events")
    package.__path__ = [sys.argv[1]]
    sys.modules["trio_ws_events"] = package
    for name in sys.argv[2:]:
        importlib.import_module("trio_ws_events._sansio." + name)
    loaded = {name.split(".")[0] for name, module in sys.modules.items() if module}
    assert "trio" not in loaded, "trio was imported"
    print(len(sys.argv) - 2)
    """
)


def test_sansio_modules_import_no_trio() -> None:
    """Every module of _sansio loads with trio made unimportable."""
    names = sorted(info.name for info in pkgutil.iter_modules(_sansio.__path__))
    assert {"frames", "protocol", "handshake", "deflate", "url", "state"} <= set(names)
    result = subprocess.run(
        [sys.executable, "-c", _CHECK, trio_ws_events.__path__[0], *names],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(names))
