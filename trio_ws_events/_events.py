"""Values handed to handlers that need more than a plain ``str`` or ``bytes``."""

from __future__ import annotations

import dataclasses

__all__ = ["Frame"]


@dataclasses.dataclass(frozen=True, slots=True)
class Frame:
    """One piece of a message that did not arrive whole, given to ``on_incomplete_frame``.

    Attributes:
        data: the piece: ``str`` for a text message (never splitting a UTF-8 sequence),
            ``bytes`` for a binary one. It may be empty on the final piece.
        is_text: whether the message is a text message.
        final: True on the last piece of the message.
    """

    data: str | bytes
    is_text: bool
    final: bool
