"""Counting replies of line-framed protocols without a per-reply Python loop.

Redis answers an XADD with a bulk string (``$<n>\\r\\n<id>\\r\\n``) and NATS acks a JetStream
publish with a message (``MSG <subject> <sid> <n>\\r\\n<json>\\r\\n``): two CRLF-ended lines
each, with no CRLF inside.  Counting CRLFs (in C, ``bytes.count``) therefore counts replies.
Error replies are spotted by their marker; a server ping is answered and not counted.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence


class LineCountReader:
    """Counts fully answered chunks of ``replies_per_chunk`` two-line replies."""

    def __init__(
        self,
        replies_per_chunk: int,
        error_markers: Sequence[bytes],
        sock: socket.socket | None = None,
        ping: bytes | None = None,
        pong: bytes | None = None,
    ) -> None:
        self.lines_per_chunk = 2 * replies_per_chunk
        self.error_markers = tuple(error_markers)
        self.sock = sock
        self.ping = ping
        self.pong = pong
        self.lines = 0
        self.chunks = 0
        self.tail = b""

    def feed(self, data: bytes) -> int:
        """Take received bytes; the number of chunks now fully answered."""
        # Keep a few bytes of the previous read so markers and CRLFs cut in two are seen.
        window = self.tail + data
        for marker in self.error_markers:
            at = window.find(marker)
            if at >= 0:
                raise RuntimeError(f"error reply: {window[at:at + 200]!r}")
        lines = data.count(b"\r\n")
        if self.tail.endswith(b"\r") and data.startswith(b"\n"):
            lines += 1
        if self.ping is not None and self.ping in window:
            pings = window.count(self.ping) - self.tail.count(self.ping)
            lines -= pings
            if self.sock is not None and self.pong is not None:
                self.sock.sendall(self.pong * pings)
        self.tail = window[-16:]
        self.lines += lines
        chunks = self.lines // self.lines_per_chunk
        done = chunks - self.chunks
        self.chunks = chunks
        return done
