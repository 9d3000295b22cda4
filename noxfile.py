"""Developer sessions: ``nox`` runs tests, lint and typecheck; ``nox -s docs`` checks the docs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent

#: The documentation pages; ``nox -s docs`` fails when one is missing.
DOC_PAGES = [
    "index.md",
    "getting-started.md",
    "events.md",
    "sending-and-closing.md",
    "errors.md",
    "design.md",
    "coming-from-best-http.md",
]

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite; extra arguments go to pytest (``nox -s tests -- -k close``)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff: lint rules and formatting, with the version pinned in the ``dev`` extra."""
    session.install(_dev_requirement("ruff"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the files listed in ``[tool.mypy]`` of pyproject.toml."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", *session.posargs)


@nox.session(venv_backend="none")
def docs(session: nox.Session) -> None:
    """Check the Markdown docs: every page exists, Python blocks compile, local links resolve.

    A later issue replaces this with ``mkdocs build --strict``.
    """
    problems: list[str] = []
    for name in DOC_PAGES:
        if not (ROOT / "docs" / name).is_file():
            problems.append(f"docs/{name}: missing")
    pages = sorted((ROOT / "docs").glob("*.md"))
    for page in [ROOT / "README.md", *pages]:
        problems.extend(_check_page(page))
    for problem in problems:
        session.log(problem)
    if problems:
        session.error(f"{len(problems)} problem(s) in the docs")
    session.log(f"checked README.md and {len(pages)} page(s) in docs/")


def _dev_requirement(name: str) -> str:
    """The requirement string for ``name`` in the ``dev`` extra, e.g. ``ruff>=0.5``."""
    project = nox.project.load_toml(ROOT / "pyproject.toml")["project"]
    for requirement in project["optional-dependencies"]["dev"]:
        if re.match(rf"{re.escape(name)}\b(?![-_.])", requirement):
            return str(requirement)
    return name


def _check_page(page: Path) -> list[str]:
    """Compile each Python code block of ``page`` and check its links to local files."""
    problems: list[str] = []
    relative = page.relative_to(ROOT)
    for line_number, source in _python_blocks(page):
        try:
            compile(
                source, f"{relative}:{line_number}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
            )
        except SyntaxError as exc:
            problems.append(f"{relative}:{line_number + (exc.lineno or 1)}: {exc.msg}")
    text = page.read_text(encoding="utf-8")
    for match in _LINK.finditer(text):
        target, _, anchor = match.group("target").partition("#")
        if "://" in target or target.startswith("mailto:"):
            continue
        line_number = text.count("\n", 0, match.start()) + 1
        linked = page.parent / target if target else page
        if not linked.exists():
            problems.append(f"{relative}:{line_number}: broken link to {target}")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            problems.append(f"{relative}:{line_number}: no heading #{anchor} in {target or 'here'}")
    return problems


def _anchors(page: Path) -> set[str]:
    """The anchors of ``page``'s headings, slugified as GitHub and Python-Markdown do."""
    anchors = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"#{1,6} +(.*?) *#* *$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            anchors.add(re.sub(r"[- ]+", "-", slug))
    return anchors


def _python_blocks(page: Path) -> list[tuple[int, str]]:
    """The fenced ``python``/``py`` blocks of ``page`` as (line before the block, source)."""
    blocks: list[tuple[int, str]] = []
    fence: str | None = None
    indent = 0
    lang = ""
    start = 0
    lines: list[str] = []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence, indent, lang = match["fence"], len(match["indent"]), match["lang"]
                start, lines = number, []
        elif match and match["fence"].startswith(fence) and not line.strip().strip(fence[0]):
            if lang in ("python", "py"):
                blocks.append((start, "\n".join(lines) + "\n"))
            fence = None
        else:
            lines.append(line[indent:] if line[:indent].strip() == "" else line)
    return blocks
