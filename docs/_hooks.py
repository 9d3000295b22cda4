"""MkDocs hooks for the trio-ws-events site (``hooks:`` in mkdocs.yml).

Placeholders: some pages are written alongside other work (the handshake, reliability and
benchmark pages). While one of them does not exist yet, the build puts a short generated page
in its place, so that the navigation is complete and ``mkdocs build --strict`` passes. Nothing
is written into ``docs/``: the real page simply takes over once it is there.

Mermaid: the theme renders diagrams with mermaid.js, loaded from a CDN when a page is viewed;
without it a diagram shows as its source. To host the script with the site instead (for an
offline or intranet copy), point ``TRIO_WS_EVENTS_MERMAID_JS`` at a ``mermaid.min.js`` (from
npm's ``mermaid`` package, version 11) when building: it is copied into the site and loaded
before the theme looks for it. The repository ships no copy of it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.trio_ws_events")

#: Where a self-hosted mermaid.min.js goes in the site.
MERMAID_URI = "assets/javascripts/mermaid.min.js"

#: Pages that other work provides: (file, title, what it will cover).
PENDING_PAGES = [
    ("handshake.md", "Handshake, TLS and proxies", "the opening handshake, TLS and proxies"),
    ("reliability.md", "Reliability", "how the client is tested against faulty peers"),
    ("benchmarks.md", "Benchmarks", "the benchmarks and their results"),
]


def _mermaid_js() -> Path | None:
    path = os.environ.get("TRIO_WS_EVENTS_MERMAID_JS")
    return Path(path) if path else None


def on_config(config: Any) -> Any:
    """Load a self-hosted mermaid.min.js, when one is given, before the theme's own code."""
    if _mermaid_js() is not None:
        config.extra_javascript.insert(0, MERMAID_URI)
    return config


def on_files(files: Files, config: Any) -> Files:
    """Add placeholders for missing pending pages, and the self-hosted mermaid.min.js."""
    mermaid = _mermaid_js()
    if mermaid is not None:
        if not mermaid.is_file():
            raise FileNotFoundError(f"TRIO_WS_EVENTS_MERMAID_JS: no file {mermaid}")
        files.append(File.generated(config, MERMAID_URI, abs_src_path=str(mermaid)))
    for name, title, subject in PENDING_PAGES:
        if files.get_file_from_path(name) is None:
            log.info("docs/%s does not exist yet: using a placeholder page", name)
            content = f"# {title}\n\nThis page, on {subject}, is being written.\n"
            files.append(File.generated(config, name, content=content))
    return files
