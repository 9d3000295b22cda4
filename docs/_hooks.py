"""MkDocs hooks for the trio-ws-events site (``hooks:`` in mkdocs.yml).

Placeholders: some pages are written alongside other work (the handshake, reliability and
benchmark pages). While one of them does not exist yet, the build puts a short generated page
in its place, so that the navigation is complete and ``mkdocs build --strict`` passes. Nothing
is written into ``docs/``: the real page simply takes over once it is there.

Mermaid: the site serves its own ``mermaid.min.js`` (listed in ``extra_javascript``), so that
diagrams render offline; the theme uses it instead of fetching one from a CDN. The file is
not in the repository: ``nox -s docs`` takes it from npm's ``mermaid`` package into
``docs/_vendor/`` (pinned version and checksum in noxfile.py) before building.
``TRIO_WS_EVENTS_MERMAID_JS`` points at another copy. Without one, the build warns (and
``--strict`` fails) instead of shipping a page that needs the network.

Checks: every rendered page is searched for markup that Markdown shows as text (a Sphinx role
such as ``:meth:`` left in a docstring, an reST ``::``) and for code blocks with a gap left by
snippet markers (three blank lines in a row, or a ``--8<--`` line); each finding is a warning,
so ``--strict`` fails. tests/docs/test_docs_site.py builds the site and pins this.
"""

from __future__ import annotations

import html
import logging
import os
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.trio_ws_events")

#: Where the self-hosted mermaid.min.js goes in the site (also in mkdocs.yml).
MERMAID_URI = "assets/javascripts/mermaid.min.js"
#: Where ``nox -s docs`` puts the copy taken from npm.
VENDORED_MERMAID = Path(__file__).parent / "_vendor" / "mermaid.min.js"

#: Pages that other work provides: (file, title, what it will cover).
PENDING_PAGES = [
    ("handshake.md", "Handshake, TLS and proxies", "the opening handshake, TLS and proxies"),
    ("reliability.md", "Reliability", "how the client is tested against faulty peers"),
    ("benchmarks.md", "Benchmarks", "the benchmarks and their results"),
]

_PRE = re.compile(r"<pre\b[^>]*>(.*?)</pre>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_ROLE = re.compile(r":(?:meth|class|func|attr|exc|data|mod|obj|const|ref|term|py:\w+):")
_RST_LITERAL = re.compile(r"::</p>")
_GAP = re.compile(r"\n[ \t]*\n[ \t]*\n[ \t]*\n")


def _mermaid_js() -> Path:
    path = os.environ.get("TRIO_WS_EVENTS_MERMAID_JS")
    return Path(path) if path else VENDORED_MERMAID


def raw_markup(page_html: str) -> list[str]:
    """Sphinx roles and reST ``::`` in the text of a page (code blocks excepted)."""
    text = _PRE.sub("", page_html)
    found = [m.group(0) + text[m.end() : m.end() + 40] for m in _ROLE.finditer(text)]
    found += ["a paragraph ending in '::'" for _ in _RST_LITERAL.finditer(text)]
    return [_TAG.sub("", item) for item in found]


def snippet_gaps(page_html: str) -> list[str]:
    """Code blocks with three blank lines in a row, or a leftover ``--8<--`` marker line."""
    found = []
    for block in _PRE.finditer(page_html):
        code = html.unescape(_TAG.sub("", block.group(1)))
        if _GAP.search(code) or "--8<--" in code:
            found.append(code.strip().splitlines()[0] if code.strip() else "(empty block)")
    return found


def on_files(files: Files, config: Any) -> Files:
    """Add placeholders for missing pending pages, and the self-hosted mermaid.min.js."""
    mermaid = _mermaid_js()
    if mermaid.is_file():
        files.append(File.generated(config, MERMAID_URI, abs_src_path=str(mermaid)))
        licence = mermaid.with_name("mermaid.LICENSE")
        if licence.is_file():  # MIT: the notice travels with the script
            uri = MERMAID_URI.replace(".min.js", ".LICENSE.txt")
            files.append(File.generated(config, uri, abs_src_path=str(licence)))
    else:
        log.warning(
            "no %s: run `nox -s docs` (it takes mermaid from npm) or set "
            "TRIO_WS_EVENTS_MERMAID_JS; without it the diagrams need a CDN",
            mermaid,
        )
    for name, title, subject in PENDING_PAGES:
        if files.get_file_from_path(name) is None:
            log.info("docs/%s does not exist yet: using a placeholder page", name)
            content = f"# {title}\n\nThis page, on {subject}, is being written.\n"
            files.append(File.generated(config, name, content=content))
    return files


def on_page_content(page_html: str, page: Any, config: Any, files: Files) -> str:
    """Warn about raw docstring markup and snippet gaps in the rendered page."""
    for found in raw_markup(page_html):
        log.warning("%s: raw markup shown as text: %r", page.file.src_uri, found)
    for found in snippet_gaps(page_html):
        log.warning("%s: a code block has a blank gap or marker: %r", page.file.src_uri, found)
    return page_html
