"""Size-prefixed frames: a 4-byte big-endian length, then that many bytes. Sans-I/O.

The size is checked against the limit as soon as the prefix has arrived, before any of the
body is buffered, so an oversized or negative declaration costs nothing.
"""

from __future__ import annotations

PREFIX = 4


class OversizedFrame(Exception):
    """A frame declared a size above the limit, or a negative one."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame of {size} bytes declared, the limit is {limit}")
        self.size = size
        self.limit = limit


class FrameBuffer:
    """Collects received bytes and hands out whole frames (without their size prefix)."""

    def __init__(self, max_frame_size: int) -> None:
        self.max_frame_size = max_frame_size
        self._buf = bytearray()
        self._size = -1  # body size of the frame being collected, -1 until the prefix is in

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes read from the peer."""
        self._buf += data

    def next_frame(self) -> memoryview | None:
        """The next complete frame, or None when more bytes are needed.

        Raises OversizedFrame as soon as a prefix declares too much.
        """
        buf = self._buf
        if self._size < 0:
            if len(buf) < PREFIX:
                return None
            size = int.from_bytes(buf[:PREFIX], "big", signed=True)
            if size < 0 or size > self.max_frame_size:
                raise OversizedFrame(size, self.max_frame_size)
            self._size = size
        end = PREFIX + self._size
        if len(buf) < end:
            return None
        self._size = -1
        if len(buf) == end:
            # The common case, one frame per read: hand the buffer over instead of copying.
            self._buf = bytearray()
            return memoryview(buf)[PREFIX:]
        # One copy, and a writable one: appends patch offsets into the records in place.
        frame = memoryview(buf[PREFIX:end])
        del buf[:end]
        return frame

    def has_frame(self) -> bool:
        """True when a whole frame is buffered (``next_frame`` would return it or raise)."""
        buf = self._buf
        size = self._size
        if size < 0:
            if len(buf) < PREFIX:
                return False
            size = int.from_bytes(buf[:PREFIX], "big", signed=True)
            if size < 0 or size > self.max_frame_size:
                return True
        return len(buf) >= PREFIX + size

    def wanted(self) -> int:
        """How many more bytes would complete the frame being collected (at least 1)."""
        if self._size < 0:
            return max(1, PREFIX - len(self._buf))
        return max(1, PREFIX + self._size - len(self._buf))

    @property
    def buffered(self) -> int:
        """Bytes held that are not yet part of a returned frame."""
        return len(self._buf)
