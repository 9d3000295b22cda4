"""The parts of a message being reassembled from fragments or reads, joined once at its end."""

from __future__ import annotations

from typing import Any, Final

__all__ = ["GATHER_PARTS", "SMALL_PART", "Parts"]

#: Parts of a reassembled message shorter than this are gathered, ``GATHER_PARTS`` at a
#: time, before they are kept: bookkeeping grows with the bytes, not with the fragments.
SMALL_PART: Final = 4096
GATHER_PARTS: Final = 256


class Parts:
    """The parts of one message (``bytes``, or ``str`` for text decoded as it came).

    A message of a million tiny fragments costs a few thousand objects, not a million: the
    small parts are gathered into one before they are kept.
    """

    __slots__ = ("_parts", "_small")

    def __init__(self) -> None:
        self._parts: list[Any] = []
        self._small: list[Any] = []

    def __bool__(self) -> bool:
        """Whether any part is kept."""
        return bool(self._parts) or bool(self._small)

    def keep(self, part: bytes | str) -> None:
        """Add ``part`` to the message; small parts are gathered first."""
        if len(part) >= SMALL_PART:
            if self._small:
                self._gather()
            self._parts.append(part)
            return
        small = self._small
        small.append(part)
        if len(small) >= GATHER_PARTS:
            self._gather()

    def joined(self, empty: Any) -> Any:
        """The reassembled message (``empty`` when no part was kept); the parts are forgotten."""
        if self._small:
            self._gather()
        parts = self._parts
        self._parts = []
        if not parts:
            return empty
        return parts[0] if len(parts) == 1 else empty.join(parts)

    def clear(self) -> None:
        """Forget every part (the input ended with a failure)."""
        self._parts = []
        self._small = []

    def _gather(self) -> None:
        small = self._small
        self._parts.append(("" if isinstance(small[0], str) else b"").join(small))
        small.clear()
