"""How ``connect`` prints: timestamped, marked lines; escaped text; hex dumps of binary."""

from __future__ import annotations

import datetime
import os
import sys
from typing import Any, Final

__all__ = ["HEXDUMP_LIMIT", "Printer", "hexdump", "printable", "use_color"]

#: A binary message is shown as a hex dump of at most this many bytes.
HEXDUMP_LIMIT: Final = 1024

_GREEN, _CYAN, _YELLOW, _RED, _RESET = "\x1b[32m", "\x1b[36m", "\x1b[33m", "\x1b[31m", "\x1b[0m"
# Control characters from the server must not drive the terminal: show them escaped.
_ESCAPES = {
    code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)] if code not in (9, 10)
}


class Printer:
    """Prints messages and status lines, each with a timestamp and a direction mark.

    Messages (``<`` in, ``>`` out) go to stdout, status lines (``*``) and errors (``!``) to
    stderr, so that a script can keep only what was exchanged. ``sys.stdout`` is looked up at
    each call: ``patch_stdout`` replaces it while the prompt runs.
    """

    def __init__(self, *, color: bool) -> None:
        self._color = color

    def message(self, mark: str, data: str | bytes) -> None:
        """Print one message sent (``>``) or received (``<``)."""
        paint = _GREEN if mark == "<" else _CYAN
        if isinstance(data, str):
            self._emit(sys.stdout, mark, paint, printable(data).split("\n"))
        else:
            self._emit(sys.stdout, mark, paint, [f"binary, {len(data)} bytes", *hexdump(data)])

    def status(self, text: str) -> None:
        """Print a status line: connected, closing, closed."""
        self._emit(sys.stderr, "*", _YELLOW, [text])

    def error(self, text: str) -> None:
        """Print an error line."""
        self._emit(sys.stderr, "!", _RED, [text])

    def _emit(self, stream: Any, mark: str, paint: str, lines: list[str]) -> None:
        stamp = datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]
        if self._color:
            mark = f"{paint}{mark}{_RESET}"
        indent = " " * (len(stamp) + 3)
        text = "\n".join([f"{stamp} {mark} {lines[0]}", *(indent + line for line in lines[1:])])
        print(text, file=stream, flush=True)


def printable(text: str) -> str:
    return text.translate(_ESCAPES)


def hexdump(data: bytes) -> list[str]:
    """``0000  00 01 ...  |..|`` lines, 16 bytes each, for at most HEXDUMP_LIMIT bytes."""
    lines = []
    for offset in range(0, min(len(data), HEXDUMP_LIMIT), 16):
        row = data[offset : offset + 16]
        hexes = " ".join(f"{byte:02x}" for byte in row)
        shown = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in row)
        lines.append(f"{offset:04x}  {hexes:<47}  |{shown}|")
    if len(data) > HEXDUMP_LIMIT:
        lines.append(f"... {len(data) - HEXDUMP_LIMIT} more bytes")
    return lines


def use_color(no_color: bool) -> bool:
    """Whether to color: not asked not to (``--no-color``, ``NO_COLOR``), stdout a TTY."""
    return not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()
