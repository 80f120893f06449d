"""Size-prefixed frames: a 4-byte big-endian length, then that many bytes. Sans-I/O.

The size is checked against the limit as soon as the prefix has arrived, before any of the
body is buffered, so an oversized or negative declaration costs nothing.

A large frame (``DIRECT_MIN`` bytes or more still to come) gets a buffer of its exact size
once its prefix is in, and ``receive_buffer`` offers the rest of it to be received into
directly: its bytes are then copied once, by the kernel, instead of arriving in chunks that
are copied again into a growing buffer.
"""

from __future__ import annotations

PREFIX = 4
# Frames with at least this much still to arrive are received into a buffer of their size.
DIRECT_MIN = 64 * 1024


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
        self._direct: bytearray | None = None  # the large frame being received, prefix included
        self._filled = 0  # bytes of ``_direct`` received

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes read from the peer."""
        direct = self._direct
        if direct is None:
            self._buf += data
            return
        take = min(len(direct) - self._filled, len(data))
        direct[self._filled : self._filled + take] = memoryview(data)[:take]
        self.received_into(take)
        if take < len(data):
            self._buf += memoryview(data)[take:]

    def receive_buffer(self) -> memoryview | None:
        """Where the next bytes of a large frame should be received, or None (then read a
        chunk and give it to ``receive_data``).  Report what was written with
        ``received_into``."""
        if self._direct is None:
            if self._size < 0:
                size = self._declared()
                if size is not None and 0 <= size <= self.max_frame_size:  # else next_frame raises
                    self._size = size
            if self._size < 0 or PREFIX + self._size - len(self._buf) < DIRECT_MIN:
                return None
            direct = bytearray(PREFIX + self._size)
            direct[: len(self._buf)] = self._buf
            self._filled = len(self._buf)
            self._buf = bytearray()
            self._direct = direct
        return memoryview(self._direct)[self._filled :]

    def received_into(self, nbytes: int) -> None:
        """``nbytes`` were written at the start of the last ``receive_buffer``."""
        assert self._direct is not None
        self._filled += nbytes
        if self._filled == len(self._direct):
            # Complete: it is the whole buffer, which next_frame hands over without a copy.
            self._buf, self._direct = self._direct, None

    def next_frame(self) -> memoryview | None:
        """The next complete frame, or None when more bytes are needed.

        Raises OversizedFrame as soon as a prefix declares too much.
        """
        if self._direct is not None:
            return None
        buf = self._buf
        if self._size < 0:
            size = self._declared()
            if size is None:
                return None
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
        if self._direct is not None:
            return False
        buf = self._buf
        size = self._size
        if size < 0:
            declared = self._declared()
            if declared is None:
                return False
            size = declared
            if size < 0 or size > self.max_frame_size:
                return True
        return len(buf) >= PREFIX + size

    def _declared(self) -> int | None:
        """The size the buffered prefix declares (unchecked), or None before it is in."""
        if len(self._buf) < PREFIX:
            return None
        return int.from_bytes(self._buf[:PREFIX], "big", signed=True)

    def wanted(self) -> int:
        """How many more bytes would complete the frame being collected (at least 1)."""
        if self._direct is not None:
            return len(self._direct) - self._filled
        if self._size < 0:
            return max(1, PREFIX - len(self._buf))
        return max(1, PREFIX + self._size - len(self._buf))

    @property
    def buffered(self) -> int:
        """Bytes held that are not yet part of a returned frame."""
        return len(self._buf) + self._filled if self._direct is not None else len(self._buf)
