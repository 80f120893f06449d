"""Size-prefixed framing, sans I/O.

Every Kafka message travels as an int32 size followed by that many bytes. A
:class:`FrameDecoder` is fed whatever the socket produced and hands out whole frames; it
never touches a socket. A declared size above the limit (or below zero) is rejected as soon
as the four size bytes are in, before the body is buffered.
"""

from __future__ import annotations

import struct

from client.protocol.errors import FrameTooLargeError

_SIZE = struct.Struct(">i")


class FrameDecoder:
    """Splits a byte stream into frames (size prefix excluded).

    ``receive_data`` adds bytes; ``next_frame`` returns the next complete frame as a
    memoryview (over bytes the decoder no longer touches; writable when the frame was the bulk
    of what was buffered) or None when more data is needed.
    After a FrameTooLargeError the decoder stays failed: the stream has lost its framing.
    """

    def __init__(self, max_frame_size: int) -> None:
        self.max_frame_size = max_frame_size
        self._buf = bytearray()
        self._start = 0
        self._error: FrameTooLargeError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet handed out as frames."""
        return len(self._buf) - self._start

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes from the peer; raises FrameTooLargeError on a bad declared size."""
        if self._error is not None:
            raise self._error
        self._buf += data
        self._check_size()

    def _check_size(self) -> int | None:
        """The declared size of the frame at the head of the buffer, once known and valid."""
        if len(self._buf) - self._start < 4:
            return None
        (size,) = _SIZE.unpack_from(self._buf, self._start)
        if size < 0 or size > self.max_frame_size:
            self._error = FrameTooLargeError(
                f"frame declares {size} bytes; the limit is {self.max_frame_size}", size
            )
            raise self._error
        return size

    def next_frame(self) -> memoryview | None:
        """The next whole frame, or None if it has not fully arrived."""
        if self._error is not None:
            raise self._error
        size = self._check_size()
        if size is None:
            return None
        buf = self._buf
        begin = self._start + 4
        end = begin + size
        if end > len(buf):
            return None
        rest = len(buf) - end
        if rest < size:
            # Hand the buffer itself over and keep only what follows the frame: a large frame
            # is then never copied (a fresh copy of a megabyte costs far more than the memcpy,
            # in page faults), and its records stay writable for the log's in-place patching.
            self._buf = bytearray(memoryview(buf)[end:]) if rest else bytearray()
            self._start = 0
            del buf[end:]
            return memoryview(buf)[begin:]
        with memoryview(buf) as view:
            frame = bytes(view[begin:end])
        self._start = end
        # Compact once the consumed prefix dominates, so the buffer does not grow forever
        # and we do not shift bytes on every frame.
        if self._start == len(self._buf):
            self._buf.clear()
            self._start = 0
        elif self._start > 65536 and self._start * 2 > len(self._buf):
            del self._buf[: self._start]
            self._start = 0
        return memoryview(frame)
