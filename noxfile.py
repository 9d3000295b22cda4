"""Developer sessions: ``nox`` runs tests, lint and typecheck; ``nox -s docs`` builds the docs."""

from __future__ import annotations

import base64
import hashlib
import re
import tarfile
import tempfile
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent

# The diagrams' script, served by the site itself (docs/_hooks.py): npm's mermaid package,
# pinned by version and by the registry's sha512 of its tarball. Material expects mermaid 11.
MERMAID_VERSION = "11.17.2"
MERMAID_INTEGRITY = (
    "sha512-V6K3C8EBdEsPFZXSKMJe6ppQOENxuHARr9GvHX4hh47lAbhMRD9qf4oEK7"
    "LoaRQxULMa80/qt5gHO73aCleBBg=="
)
VENDOR = ROOT / "docs" / "_vendor"


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


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site with ``mkdocs build --strict``: any warning fails.

    The site goes to ``site/`` (extra arguments go to mkdocs: ``nox -s docs -- -d /tmp/site``).
    mkdocs itself fetches nothing; the examples it shows run in
    ``tests/docs/test_docs_examples.py``.
    Before it, mermaid.min.js is taken from npm into ``docs/_vendor/`` (once per version).
    """
    _vendor_mermaid(session)
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs)


def _dev_requirement(name: str) -> str:
    """The requirement string for ``name`` in the ``dev`` extra, e.g. ``ruff>=0.5``."""
    project = nox.project.load_toml(ROOT / "pyproject.toml")["project"]
    for requirement in project["optional-dependencies"]["dev"]:
        if re.match(rf"{re.escape(name)}\b(?![-_.])", requirement):
            return str(requirement)
    return name


def _vendor_mermaid(session: nox.Session) -> None:
    """Put npm's ``mermaid.min.js`` in ``docs/_vendor/``, checked against its pinned sha512.

    Only that file is kept (it has no runtime dependencies), not a node_modules tree.
    """
    target = VENDOR / "mermaid.min.js"
    stamp = VENDOR / "mermaid.version"
    if target.is_file() and stamp.is_file() and stamp.read_text() == MERMAID_VERSION:
        return
    with tempfile.TemporaryDirectory() as tmp:
        spec = f"mermaid@{MERMAID_VERSION}"
        session.run("npm", "pack", spec, "--silent", "--pack-destination", tmp, external=True)
        tarball = Path(tmp) / f"mermaid-{MERMAID_VERSION}.tgz"
        digest = hashlib.sha512(tarball.read_bytes()).digest()
        if "sha512-" + base64.b64encode(digest).decode() != MERMAID_INTEGRITY:
            session.error(f"{tarball.name}: sha512 differs from MERMAID_INTEGRITY in noxfile.py")
        with tarfile.open(tarball) as tar:
            script = tar.extractfile("package/dist/mermaid.min.js")
            licence = tar.extractfile("package/LICENSE")
            if script is None or licence is None:
                session.error(f"{tarball.name}: no package/dist/mermaid.min.js or LICENSE")
            VENDOR.mkdir(exist_ok=True)
            target.write_bytes(script.read())
            (VENDOR / "mermaid.LICENSE").write_bytes(licence.read())
    stamp.write_text(MERMAID_VERSION)
