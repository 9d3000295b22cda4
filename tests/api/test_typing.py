"""Handler types carry the instance's class: files under tests/typing/ checked by mypy --strict.

``handlers_pass.py`` must pass; ``handlers_fail.py`` must fail exactly on the lines marked
``# E: <part of the message>``, with that message (as trio's and typing_extensions' type
tests do). Both are excluded from the project's own mypy run (pyproject.toml).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TYPING = ROOT / "tests" / "typing"
_EXPECTED = re.compile(r"#\s*E:\s*(?P<message>.+)$")
_ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: (?P<message>.*)$")


def _mypy(path: Path, cache: Path) -> tuple[dict[int, str], str]:
    """Run mypy --strict on ``path``; errors by line, and the whole report.

    A fresh cache each time: an incremental run can keep results from before a change.
    """
    api = pytest.importorskip("mypy.api", reason="mypy is not installed")
    args = ["--strict", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(cache)]
    stdout, stderr, _ = api.run([*args, "--show-absolute-path", str(path)])
    errors: dict[int, str] = {}
    for line in stdout.splitlines():
        match = _ERROR.match(line)
        if match:
            number = int(match["line"])
            errors[number] = f"{errors.get(number, '')}{match['message']}\n"
    return errors, stdout + stderr


@pytest.mark.slow
def test_handler_types_accept_correct_handlers(tmp_path: Path) -> None:
    """Typed handlers, lambdas, wider handlers, subclasses and other slot owners pass."""
    errors, report = _mypy(TYPING / "handlers_pass.py", tmp_path)
    assert errors == {}, report
    assert "Success: no issues found in 1 source file" in report


@pytest.mark.slow
def test_handler_types_reject_wrong_handlers(tmp_path: Path) -> None:
    """Each wrong handler fails on its line with the expected message, and nothing else fails."""
    path = TYPING / "handlers_fail.py"
    expected = {
        number: match["message"].strip()
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if (match := _EXPECTED.search(text))
    }
    errors, report = _mypy(path, tmp_path)
    assert len(expected) >= 8
    assert sorted(errors) == sorted(expected), report
    for number, message in expected.items():
        assert message in errors[number], f"line {number}: {errors[number]}"
