"""The close handshake of one client connection, decided without I/O.

Who sent which close frame, which code to echo, whether the peer's close arrived, which
ending wins and what the end reports: the driver asks ``CloseHandshake`` and moves bytes.
"""

from __future__ import annotations

from .frames import MAX_CLOSE_REASON

__all__ = ["CloseHandshake", "truncate_reason"]


class CloseHandshake:
    """The close frames of one connection, both ways, and the ending they make.

    The rules (RFC 6455 5.5.1, 7.1): our close frame goes out once; before it, queued
    messages go out for our own close, not when answering the peer's close (what is queued
    stays unsent) nor when failing without a flush. The peer's close is answered with its own
    code and reason; a peer frame with no code is reported as 1005 and answered with an empty
    close frame (``ClientProtocol.close(1005)``). Pongs are owed until our close frame is out.
    The first ending wins: once the peer's close arrived, a later failure (a lost socket,
    a timeout) does not change the ending, and a second failure does not replace the first.
    """

    __slots__ = (
        "by_server",
        "fail_code",
        "failed",
        "failing",
        "peer",
        "request",
        "sent",
        "written",
    )

    def __init__(self) -> None:
        #: What our close frame will say, once asked for.
        self.request: tuple[int, str] | None = None
        #: What our close frame said, once framed.
        self.sent: tuple[int, str] | None = None
        #: Our close frame reached the socket.
        self.written = False
        #: The peer's close frame, once it arrived.
        self.peer: tuple[int, str] | None = None
        #: The peer closed first (we answered it).
        self.by_server = False
        #: An ending other than the handshake was claimed (see ``claim_failure``).
        self.failed = False
        #: Failing without a flush: no more messages, straight to the close frame.
        self.failing = False
        #: The code ``fail`` chose for the failure that is the ending.
        self.fail_code: int | None = None

    # ------------------------------------------------------------------ asking

    def ask(self, code: int, reason: str) -> bool:
        """Ask for our close frame with ``code`` and ``reason``.

        Returns:
            True when a close frame is still to be framed (the sender must wake); False when
            ours is already out (a second ask changes nothing).
        """
        if self.sent is not None:
            return False
        self.request = (code, reason)
        return True

    def going_away(self) -> None:
        """Cancellation: ask for 1001 unless a close frame was already asked for."""
        if self.request is None:
            self.request = (1001, "")

    def received(self, code: int, reason: str) -> bool:
        """The peer's close frame arrived with ``code`` (1005 when it had none) and ``reason``.

        Returns:
            True when it must be answered (our close frame echoes it); False when ours was
            already sent, so that only the end of the stream is left to wait for.
        """
        self.peer = (code, reason)
        self.by_server = self.sent is None
        return self.ask(code, reason)

    def claim_failure(self) -> bool:
        """Claim the ending for a failure; False when one was claimed or the peer closed."""
        if self.failed or self.peer is not None:
            return False
        self.failed = True
        return True

    def fail(self, code: int, *, drop_queue: bool) -> bool:
        """A local decision to fail the connection with ``code``.

        Args:
            code: the close code to send.
            drop_queue: skip what is queued (it goes to ``unsent``) and frame the close next.

        Returns:
            True when this failure is the ending (the caller reports its error).
        """
        first = self.claim_failure()
        if first:
            self.fail_code = code
        if drop_queue:
            self.failing = True
        return first

    # ------------------------------------------------------------------ the sender's questions

    @property
    def owes_pongs(self) -> bool:
        """Pings are still answered: until our close frame, and not while failing."""
        return self.sent is None and not self.failing

    @property
    def sends_data(self) -> bool:
        """Messages and pings still go out: neither close frame seen, not failing."""
        return self.sent is None and self.peer is None and not self.failing

    @property
    def closing(self) -> bool:
        """Either side asked to close: keepalive stops."""
        return self.request is not None or self.peer is not None

    def close_due(self, queue_empty: bool) -> tuple[int, str] | None:
        """The close frame to frame now, if any; from then on it counts as sent.

        Our own close waits for the queue; answering the peer's close, or failing, does not.
        """
        request = self.request
        if request is None or self.sent is not None:
            return None
        if self.peer is None and not self.failing and not queue_empty:
            return None
        self.sent = request
        return request

    def close_written(self) -> bool:
        """Our close frame reached the socket.

        Returns:
            True when nothing more is expected but the end of the stream (the peer's close
            arrived, or the connection is failing).
        """
        self.written = True
        return self.peer is not None or self.failed

    # ------------------------------------------------------------------ the end

    def reported(self) -> tuple[int, str]:
        """The code and reason of an ending by error: our written close frame's, else 1006."""
        if self.written and self.sent is not None:
            return self.sent
        return (1006, "")

    def failure_note(self) -> str:
        """What became of the close frame the failure asked for, to end its message."""
        if self.written and self.sent is not None:
            return f"; closed with {self.sent[0]}"
        return (
            f"; the close frame {self.fail_code} could not be written in time, so the socket "
            "was closed without one (1006)"
        )


def truncate_reason(reason: str) -> str:
    """``reason`` cut to what a close frame holds, without splitting a character."""
    return reason.encode("utf-8")[:MAX_CLOSE_REASON].decode("utf-8", "ignore")
