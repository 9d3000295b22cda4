"""Developer sessions: ``nox`` runs tests, lint and typecheck; ``nox -s docs`` builds the docs."""

from __future__ import annotations

import re
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent


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
    mkdocs itself fetches nothing; the examples it shows run in ``tests/test_docs_examples.py``.
    """
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs)


def _dev_requirement(name: str) -> str:
    """The requirement string for ``name`` in the ``dev`` extra, e.g. ``ruff>=0.5``."""
    project = nox.project.load_toml(ROOT / "pyproject.toml")["project"]
    for requirement in project["optional-dependencies"]["dev"]:
        if re.match(rf"{re.escape(name)}\b(?![-_.])", requirement):
            return str(requirement)
    return name
