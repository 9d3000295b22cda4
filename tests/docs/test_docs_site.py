"""The built documentation site: no raw docstring markup, no snippet gaps, Mermaid served locally.

The site is built with ``mkdocs build --strict``: the checks themselves live in docs/_hooks.py
(each finding is a warning, so a strict build fails); these tests pin that they catch what
they should, and build the real site (about 2 s) when the ``docs`` extra is installed.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "trio_ws_events"
_SPHINX_ROLE = re.compile(r":(?:meth|class|func|attr|exc|data|mod|obj|const|ref):`")


def _hooks() -> ModuleType:
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[docs]')")
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "_hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _docstrings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc is not None:
                found.append((getattr(node, "lineno", 1), doc))
    return found


def test_docstrings_use_no_sphinx_roles() -> None:
    """No docstring of the package writes a Sphinx role: mkdocstrings would show it as text."""
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line}: {match.group(0)}"
        # Every module, those of subpackages (_sansio/) included.
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, doc in _docstrings(path)
        for match in _SPHINX_ROLE.finditer(doc)
    ]
    assert offenders == []


def test_hooks_raw_markup_finds_roles_outside_code() -> None:
    """The site check reports a rendered Sphinx role and reST '::', not ones in code blocks."""
    hooks = _hooks()
    page = (
        "<p>Call :meth:<code>open</code> first, then:</p>"
        "<p>for example::</p><pre><code>:class:`Shown` in a code block is fine</code></pre>"
    )
    found = hooks.raw_markup(page)
    assert len(found) == 2
    assert found[0].startswith(":meth:open first")
    assert found[1] == "a paragraph ending in '::'"
    assert hooks.raw_markup("<p>Call <code>open</code> first.</p>") == []


def test_hooks_snippet_gaps_finds_blank_runs_and_markers() -> None:
    """The site check reports a code block with three blank lines or a leftover --8<-- line."""
    hooks = _hooks()
    gap = "<pre><code>def a():\n    pass\n\n\n\ndef b():\n    pass</code></pre>"
    marker = "<pre><code>x = 1\n# --8&lt;-- [end:x]</code></pre>"
    fine = "<pre><code>def a():\n    pass\n\n\ndef b():\n    pass</code></pre>"
    assert hooks.snippet_gaps(gap + marker + fine) == ["def a():", "x = 1"]


@pytest.mark.slow
def test_docs_site_builds_strict_with_local_mermaid(tmp_path: Path) -> None:
    """mkdocs build --strict passes (so no page has raw markup or gaps) and serves mermaid."""
    _hooks()
    script = tmp_path / "mermaid.min.js"
    script.write_text("/* stand-in for npm's mermaid.min.js */\n")
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT,
        env={**os.environ, "TRIO_WS_EVENTS_MERMAID_JS": str(script)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (site / "assets/javascripts/mermaid.min.js").read_text() == script.read_text()
    events = (site / "events/index.html").read_text(encoding="utf-8")
    assert 'src="../assets/javascripts/mermaid.min.js"' in events
    reference = (site / "reference/index.html").read_text(encoding="utf-8")
    assert 'href="#trio_ws_events.WebSocket.open"' in reference
    # Long code lines wrap rather than run off the page (index.md has some).
    assert "stylesheets/extra.css" in (site / "index.html").read_text(encoding="utf-8")
    assert "white-space: pre-wrap" in (site / "stylesheets/extra.css").read_text(encoding="utf-8")


def test_readme_lists_every_page_of_the_site() -> None:
    """The README's documentation list links every page of the mkdocs.yml navigation."""
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:\n", 1)[1]
    pages = re.findall(r"^\s+- (?:[^:\n]+: )?(\S+\.md)$", nav, flags=re.MULTILINE)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(pages) >= 20
    assert [page for page in pages if f"(docs/{page})" not in readme] == []
