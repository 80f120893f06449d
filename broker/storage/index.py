"""Memory-mapped offset and time indexes of one segment.

``OffsetIndex`` (``<base>.index``) maps offsets to file positions; each entry
is 8 bytes, big-endian: the offset relative to the segment's base offset
(u32) and the byte position of a batch in the ``.log`` file (u32).
``TimeIndex`` (``<base>.timeindex``) maps timestamps to offsets; each entry is
12 bytes: a timestamp (i64) and a relative offset (u32).  Both are sparse (an
entry every ``index.interval.bytes`` of log), sorted, and searched by the
native binary search straight over the mapping.

The file of the active segment is preallocated to ``segment.index.bytes``
(rounded down to whole entries) and mapped; entries past ``entries`` are
zero.  On roll and close the file is trimmed to its entries.  Every entry of
an offset index has a position above zero (the first batch of a segment never
gets one), so a zero entry marks the end of the written entries in a file a
crash left preallocated.  Only the owning ``LogSegment`` calls these methods,
on the thread that owns the log.
"""

from __future__ import annotations

import bisect
import mmap
import os
import struct

import native

U32_MAX = 2**32 - 1
_MADV_RANDOM: int | None = getattr(mmap, "MADV_RANDOM", None)


class IndexFullError(Exception):
    """Raised by ``append`` when the preallocated file has no free slot (the log rolls first)."""


class _Index:
    """Common file handling: preallocation, mapping, trimming, truncation."""

    entry: struct.Struct
    entry_size: int

    def __init__(self, path: str, base_offset: int, max_bytes: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self.max_bytes = max(self.entry_size, max_bytes - max_bytes % self.entry_size)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self._length = os.fstat(self._fd).st_size
        self._mm: mmap.mmap | None = None
        self._map()
        self.entries = self._count_written()
        self._last = self.entry_at(self.entries - 1) if self.entries else None

    # -- file and mapping -------------------------------------------------------------

    def _map(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        if self._length:
            self._mm = mmap.mmap(self._fd, self._length)
            if _MADV_RANDOM is not None:
                # Lookups are binary searches and appends touch one slot: read-around on a
                # fault only costs (on a fresh preallocated file it made the first entry of
                # each new segment take milliseconds).
                self._mm.madvise(_MADV_RANDOM)

    def resize(self, length: int) -> None:
        """Set the file (and mapping) to ``length`` bytes, whole entries only."""
        length = max(length - length % self.entry_size, self.entries * self.entry_size)
        if length == self._length:
            return
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        os.ftruncate(self._fd, length)
        self._length = length
        self._map()

    def preallocate(self) -> None:
        """Grow the file to ``max_bytes`` (the active segment's index)."""
        self.resize(self.max_bytes)

    def trim(self) -> None:
        """Shrink the file to exactly its entries (on roll and on close)."""
        self.resize(self.entries * self.entry_size)

    @property
    def fd(self) -> int:
        """The open file descriptor (fsync reaches pages written through the mapping)."""
        return self._fd

    @property
    def file_size(self) -> int:
        """Current size of the file in bytes."""
        return self._length

    @property
    def is_full(self) -> bool:
        """True when no free slot remains in the mapped file."""
        return (self.entries + 1) * self.entry_size > max(self._length, self.max_bytes)

    def close(self) -> None:
        """Unmap and close (without trimming)."""
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def rename(self, path: str) -> None:
        """Move the file; the mapping and descriptor stay valid."""
        os.rename(self.path, path)
        self.path = path

    def raw_entries(self) -> bytes:
        """The bytes of the written entries (tests compare rebuilds with these)."""
        return b"" if self._mm is None else self._mm[: self.entries * self.entry_size]

    # -- entries ----------------------------------------------------------------------

    def _is_blank(self, slot: int) -> bool:
        raise NotImplementedError

    def _count_written(self) -> int:
        """Written entries: all slots before the first blank one (blank slots follow them)."""
        slots = self._length // self.entry_size
        if slots == 0:
            return 0
        return bisect.bisect_left(range(slots), True, key=self._is_blank)

    def _write(self, slot: int, first: int, second: int) -> None:
        if (slot + 1) * self.entry_size > self._length:
            raise IndexFullError(f"{self.path} is full ({self.entries} entries)")
        assert self._mm is not None
        self.entry.pack_into(self._mm, slot * self.entry_size, first, second)
        self.entries = slot + 1
        self._last = self._absolute((first, second))

    def entry_at(self, slot: int) -> tuple[int, int]:
        """Entry ``slot`` with its relative offset made absolute."""
        assert self._mm is not None and 0 <= slot < self.entries
        return self._absolute(self.entry.unpack_from(self._mm, slot * self.entry_size))

    def _absolute(self, raw: tuple[int, int]) -> tuple[int, int]:
        raise NotImplementedError

    def last_entry(self) -> tuple[int, int] | None:
        """The last written entry, or None (kept in memory: appends consult it every time)."""
        return self._last

    def truncate_entries(self, count: int) -> None:
        """Keep the first ``count`` entries; zero the rest so a crash cannot revive them."""
        if count >= self.entries:
            return
        assert self._mm is not None
        start, end = count * self.entry_size, self.entries * self.entry_size
        self._mm[start:end] = bytes(end - start)
        self.entries = count
        self._last = self.entry_at(count - 1) if count else None

    def reset(self) -> None:
        """Drop every entry."""
        self.truncate_entries(0)

    def wipe(self) -> None:
        """Drop every entry and zero the whole file, not only the slots counted as written.

        For a rebuild of an index whose file may not have been fsynced: after a crash
        its pages can mix written entries with blank ones in any order.
        """
        length = self._length
        self.entries = 0
        self._last = None
        self.resize(0)
        self.resize(length)


class OffsetIndex(_Index):
    """Offset -> file position, one entry per ``index.interval.bytes`` of log."""

    entry = struct.Struct(">II")
    entry_size = 8

    def _is_blank(self, slot: int) -> bool:
        assert self._mm is not None
        return self.entry.unpack_from(self._mm, slot * 8)[1] == 0

    def _absolute(self, raw: tuple[int, int]) -> tuple[int, int]:
        return self.base_offset + raw[0], raw[1]

    def append(self, offset: int, position: int) -> None:
        """Add (offset, position); both must exceed the last entry's.

        Raises IndexFullError when the file is full and ValueError for an entry
        that would break the ordering or does not fit the u32 fields.
        """
        relative = offset - self.base_offset
        if not 0 <= relative <= U32_MAX or not 0 < position <= U32_MAX:
            raise ValueError(f"entry ({offset}, {position}) does not fit {self.path}")
        last = self.last_entry()
        if last is not None and (offset <= last[0] or position <= last[1]):
            raise ValueError(f"entry ({offset}, {position}) is not after {last} in {self.path}")
        self._write(self.entries, relative, position)

    def lookup(self, offset: int) -> tuple[int, int]:
        """(offset, position) of the last entry at or below ``offset``; (base, 0) if none."""
        if self.entries:
            slot = native.offset_index_lookup(self._mm, self.entries, offset - self.base_offset)
            if slot >= 0:
                return self.entry_at(slot)
        return self.base_offset, 0

    def floor_position(self, position: int) -> tuple[int, int]:
        """(offset, position) of the last entry at or below file ``position``; (base, 0) if none."""
        slot = bisect.bisect_right(range(self.entries), position, key=self._position_at) - 1
        return self.entry_at(slot) if slot >= 0 else (self.base_offset, 0)

    def _position_at(self, slot: int) -> int:
        assert self._mm is not None
        return self.entry.unpack_from(self._mm, slot * 8)[1]

    def truncate_to_position(self, position: int) -> None:
        """Drop the entries at or past file ``position``."""
        self.truncate_entries(
            bisect.bisect_left(range(self.entries), position, key=self._position_at)
        )

    def truncate_to_offset(self, offset: int) -> None:
        """Drop the entries for offsets at or past ``offset``."""
        if self.entries:
            slot = native.offset_index_lookup(self._mm, self.entries, offset - 1 - self.base_offset)
            self.truncate_entries(slot + 1)

    def is_sane(self, log_size: int) -> bool:
        """Kafka's cheap sanity check: the last entry is inside the log and after the first."""
        last = self.last_entry()
        if last is None:
            return True
        first = self.entry_at(0)
        return 0 < first[1] <= last[1] < log_size and first[0] <= last[0]


class TimeIndex(_Index):
    """Timestamp -> offset; an entry only when the segment's max timestamp grows."""

    entry = struct.Struct(">qI")
    entry_size = 12

    def _is_blank(self, slot: int) -> bool:
        assert self._mm is not None
        return self._mm[slot * 12 : slot * 12 + 12] == bytes(12)

    def _absolute(self, raw: tuple[int, int]) -> tuple[int, int]:
        return raw[0], self.base_offset + raw[1]

    def maybe_append(self, timestamp: int, offset: int) -> None:
        """Add (timestamp, offset) if ``timestamp`` is above the last entry's.

        Raises IndexFullError when the file is full.
        """
        last = self.last_entry()
        if last is not None and timestamp <= last[0]:
            return
        relative = offset - self.base_offset
        if not 0 <= relative <= U32_MAX:
            raise ValueError(f"offset {offset} does not fit {self.path}")
        if last is not None and offset < last[1]:
            raise ValueError(f"offset {offset} is before {last} in {self.path}")
        self._write(self.entries, timestamp, relative)

    def lookup(self, timestamp: int) -> tuple[int, int] | None:
        """(timestamp, offset) of the last entry with timestamp <= ``timestamp``; None if none."""
        if not self.entries:
            return None
        slot = native.time_index_lookup(self._mm, self.entries, timestamp)
        return self.entry_at(slot) if slot >= 0 else None

    def _offset_at(self, slot: int) -> int:
        assert self._mm is not None
        return self.entry.unpack_from(self._mm, slot * 12)[1] + self.base_offset

    def truncate_to_offset(self, offset: int) -> None:
        """Drop the entries for offsets at or past ``offset``."""
        self.truncate_entries(bisect.bisect_left(range(self.entries), offset, key=self._offset_at))

    def is_sane(self, next_offset: int) -> bool:
        """Cheap check: the last entry's offset inside the segment, not below the first entry."""
        last = self.last_entry()
        if last is None:
            return True
        first = self.entry_at(0)
        return self.base_offset <= first[1] <= last[1] < next_offset and first[0] <= last[0]
