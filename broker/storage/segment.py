"""One segment of a partition's log: ``<base>.log`` with its ``.index`` and ``.timeindex``.

A ``LogSegment`` owns three files named after its base offset (20 digits):
the record batches, byte for byte as appended, and the two sparse indexes
(see ``broker.storage.index``).  Only the last segment of a log (the active
one) is appended to; once rolled, a segment's files are immutable apart from
truncation (a follower's ``truncate_to``) and deletion, and its indexes are
trimmed to their entries.  A cleaned segment replaces old ones by renaming
(``.cleaned`` -> ``.swap`` -> no suffix), never by rewriting in place.

Index entries follow Kafka's rule: after more than ``index.interval.bytes``
have been appended since the last entry, the next batch gets an offset-index
entry (its last offset, its position) and the time index gets the segment's
largest timestamp so far if it grew.  The rule is deterministic, so a rebuild
from the log yields the same bytes as the original index.

Not thread-safe: the owning ``Log`` calls everything from one thread, except
that ``fds()`` descriptors may be duplicated for an fsync in a worker thread.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import native
from broker.storage.config import LogConfig
from broker.storage.index import OffsetIndex, TimeIndex
from native.results import HEADER_SIZE, LOG_OVERHEAD, BatchInfo, ScanError

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
SEGMENT_SUFFIXES = (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX)
MAX_RELATIVE_OFFSET = 2**31 - 1

_HEADER = struct.Struct(">qiibIhiqqqhii")
_WINDOW = 16 * 1024  # bytes read at once when walking batch headers
_SCAN_CHUNK = 8 * 1024 * 1024  # bytes validated per native call during recovery
# Headers of the newest batches kept in memory: fetches at the tail (followers, caught-up
# consumers) find their batch without an index lookup and a header read.
RECENT_BATCHES = 8


def file_name(base_offset: int, suffix: str) -> str:
    """Kafka's file name for ``base_offset``: 20 zero-padded digits and ``suffix``."""
    return f"{base_offset:020d}{suffix}"


def header_at(buf: bytes | memoryview, at: int, position: int) -> BatchInfo:
    """The batch header at ``buf[at:]`` as a BatchInfo placed at file ``position`` (no checks)."""
    (base, length, epoch, magic, crc, attrs, delta, base_ts, max_ts, pid, pepoch, seq, count) = (
        _HEADER.unpack_from(buf, at)
    )
    return BatchInfo(
        position,
        LOG_OVERHEAD + length,
        base,
        delta,
        epoch,
        magic,
        crc,
        attrs,
        base_ts,
        max_ts,
        pid,
        pepoch,
        seq,
        count,
    )


@dataclass
class ReadStats:
    """Bytes a segment read from its log file, split by purpose (recovery tests count these)."""

    scanned: int = 0  # whole batches read and validated (recovery)
    headers: int = 0  # bytes read to walk batch headers


@dataclass
class RecoveryOutcome:
    """What ``LogSegment.recover`` found: where valid data ends and why scanning stopped."""

    valid_end: int
    next_offset: int
    error: ScanError | None
    dropped_bytes: int


class LogSegment:
    """A segment's files and the in-memory facts about them.

    Invariants: ``size`` is the length of the ``.log`` file; ``next_offset`` is
    one past the last offset in it (its base offset when empty); every index
    entry points at a batch start below ``size``.
    """

    def __init__(
        self, directory: str, base_offset: int, config: LogConfig, *, now_ms: int, suffix: str = ""
    ) -> None:
        self.directory = directory
        self.base_offset = base_offset
        self.suffix = suffix
        self.log_path = os.path.join(directory, file_name(base_offset, LOG_SUFFIX) + suffix)
        self.fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT, 0o644)
        self.size = os.fstat(self.fd).st_size
        max_index = config.segment_index_bytes
        self.offset_index = OffsetIndex(self._path(INDEX_SUFFIX), base_offset, max_index)
        self.time_index = TimeIndex(self._path(TIME_INDEX_SUFFIX), base_offset, max_index)
        self.index_interval = config.index_interval_bytes
        self.next_offset = base_offset
        self.bytes_since_last_index = 0
        self.max_timestamp = -1
        self.offset_of_max_timestamp = base_offset
        self.created_ms = now_ms
        self.first_batch_timestamp: int | None = None
        self.closed = False
        # The last batches of the file, oldest first, positions absolute; empty when unknown.
        self._recent: list[BatchInfo] = []
        self._sync_time_state()

    def _path(self, suffix: str) -> str:
        return os.path.join(self.directory, file_name(self.base_offset, suffix) + self.suffix)

    def _sync_time_state(self) -> None:
        last = self.time_index.last_entry()
        if last is not None:
            self.max_timestamp, self.offset_of_max_timestamp = last

    def _sync_index_state(self) -> None:
        last = self.offset_index.last_entry()
        self.bytes_since_last_index = self.size - (last[1] if last else 0)

    def __repr__(self) -> str:
        return f"LogSegment({self.log_path!r}, next_offset={self.next_offset}, size={self.size})"

    # -- appending --------------------------------------------------------------------

    def free_index_slots(self) -> int:
        """Entries either index can still take before it is full."""
        return min(
            self.offset_index.max_bytes // 8 - self.offset_index.entries,
            self.time_index.max_bytes // 12 - self.time_index.entries,
        )

    def append(self, data: memoryview, batches: list[BatchInfo]) -> None:
        """Write ``data`` (whole batches with final offsets) at the end and index it.

        ``batches`` are the batches of ``data`` with positions relative to it.
        The log rolls before calling when the indexes could fill up.
        """
        position = self.size
        view = data
        while view:
            written = os.pwrite(self.fd, view, position + (len(data) - len(view)))
            view = view[written:]
        for info in batches:
            self._index_batch(position + info.position, info)
        recent = self._recent
        recent.extend(
            info._replace(position=position + info.position) for info in batches[-RECENT_BATCHES:]
        )
        del recent[:-RECENT_BATCHES]
        self.size = position + len(data)
        self.next_offset = batches[-1].base_offset + batches[-1].last_offset_delta + 1
        if self.first_batch_timestamp is None:
            self.first_batch_timestamp = batches[0].max_timestamp

    def _index_batch(self, position: int, info: BatchInfo) -> None:
        if info.max_timestamp > self.max_timestamp:
            self.max_timestamp = info.max_timestamp
            self.offset_of_max_timestamp = info.base_offset + info.last_offset_delta
        if self.bytes_since_last_index > self.index_interval:
            self.offset_index.append(info.base_offset + info.last_offset_delta, position)
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
            self.bytes_since_last_index = 0
        self.bytes_since_last_index += info.size

    def _refresh_max_timestamp(self, stop: int) -> None:
        """Fold in the batches after the last index entry (the time index does not cover them)."""
        last = self.offset_index.last_entry()
        for info in self.iter_headers(last[1] if last else 0, stop):
            if info.max_timestamp > self.max_timestamp:
                self.max_timestamp = info.max_timestamp
                self.offset_of_max_timestamp = info.base_offset + info.last_offset_delta

    def on_roll(self) -> None:
        """The segment stops being active: final time-index entry, indexes trimmed."""
        self._final_time_entry()
        self.offset_index.trim()
        self.time_index.trim()

    def _final_time_entry(self) -> None:
        if self.max_timestamp >= 0:
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)

    def make_active(self) -> None:
        """Preallocate the indexes again (the last segment after a load or truncation)."""
        self.offset_index.preallocate()
        self.time_index.preallocate()

    # -- reading ----------------------------------------------------------------------

    def iter_headers(
        self, start: int = 0, stop: int | None = None, stats: ReadStats | None = None
    ) -> Iterator[BatchInfo]:
        """Batch headers from file position ``start`` (a batch start) up to ``stop``.

        Reads headers only (no CRC check): for data already validated.  Stops
        at the first header that does not fit before ``stop`` or looks broken.
        """
        stop = self.size if stop is None else min(stop, self.size)
        position = start
        window = b""
        window_start = 0
        last_size = 0
        while position + HEADER_SIZE <= stop:
            at = position - window_start
            if at < 0 or at + HEADER_SIZE > len(window):
                want = HEADER_SIZE if last_size >= _WINDOW else min(_WINDOW, stop - position)
                window = os.pread(self.fd, want, position)
                window_start, at = position, 0
                if stats is not None:
                    stats.headers += len(window)
                if len(window) < HEADER_SIZE:
                    return
            info = header_at(window, at, position)
            if info.size < HEADER_SIZE or position + info.size > stop:
                return
            yield info
            last_size = info.size
            position += info.size

    def translate(self, offset: int, start: int = 0) -> BatchInfo | None:
        """The first batch at or after file ``start`` whose last offset is >= ``offset``.

        Uses the newest batches' headers or the index to skip ahead; None when the segment
        holds no such batch.
        """
        recent = self._recent
        if recent and recent[0].base_offset <= offset:
            for info in recent:
                if info.base_offset + info.last_offset_delta >= offset:
                    if info.position >= start:
                        return info
                    break
            else:
                return None
        _, position = self.offset_index.lookup(offset)
        for info in self.iter_headers(max(position, start)):
            if info.base_offset + info.last_offset_delta >= offset:
                return info
        return None

    def boundary_at_or_below(self, start: int, limit: int) -> tuple[int, int | None]:
        """The last batch end in [start, limit], walking from ``start`` (a batch start), and
        the offset after the batch ending there (None at ``start``, where none does)."""
        if limit >= self.size:
            return self.size, self.next_offset
        recent = self._recent
        if recent and recent[0].position + recent[0].size <= limit:
            for info in reversed(recent):
                end = info.position + info.size
                if end <= limit:
                    if info.position >= start:
                        return end, info.base_offset + info.last_offset_delta + 1
                    break
        _, position = self.offset_index.floor_position(limit)
        position = max(position, start)
        next_offset = None
        for info in self.iter_headers(position, limit):
            position = info.position + info.size
            next_offset = info.base_offset + info.last_offset_delta + 1
        if next_offset is None and position > start:
            # The indexed batch at ``position`` does not fit: the boundary is its start, and
            # the batch ending there lies in the stretch before that index entry.
            _, back = self.offset_index.floor_position(position - 1)
            for info in self.iter_headers(max(back, start), position):
                next_offset = info.base_offset + info.last_offset_delta + 1
        return position, next_offset

    def read_bytes(self, position: int, length: int) -> bytes:
        """``length`` bytes of the log file from ``position``."""
        return os.pread(self.fd, length, position)

    @property
    def largest_timestamp(self) -> int:
        """Largest batch timestamp in the segment; the file's mtime when it has none (Kafka)."""
        if self.max_timestamp >= 0:
            return self.max_timestamp
        return int(os.fstat(self.fd).st_mtime * 1000)

    def rolling_timestamp(self) -> int | None:
        """Timestamp of the first batch (what ``segment.ms`` is measured from); None if empty."""
        if self.first_batch_timestamp is None and self.size >= HEADER_SIZE:
            first = next(self.iter_headers(0), None)
            if first is not None:
                self.first_batch_timestamp = first.max_timestamp
        return self.first_batch_timestamp

    # -- loading and recovery ---------------------------------------------------------

    def load_clean(self, next_offset: int) -> None:
        """Accept the files as a clean shutdown left them."""
        self.next_offset = next_offset
        self._sync_time_state()
        self._sync_index_state()

    def recover(
        self,
        from_position: int,
        expected_offset: int,
        on_batch: Callable[[BatchInfo], str | None] | None = None,
        stats: ReadStats | None = None,
    ) -> RecoveryOutcome:
        """Validate the log from ``from_position`` (a batch start holding ``expected_offset``).

        Index entries at or past ``from_position`` are dropped (from position 0:
        the index files are zeroed whole) and rebuilt from the scanned batches;
        everything from the first invalid byte on is cut from the file.
        ``on_batch`` sees each valid batch and may refuse it by returning a
        reason.  Offsets must increase and fit the segment;
        anything else counts as corruption.
        """
        self._recent = []
        if from_position == 0:
            self.offset_index.wipe()
            self.time_index.wipe()
        else:
            self.offset_index.truncate_to_position(from_position)
            self.time_index.truncate_to_offset(expected_offset)
        self.max_timestamp, self.offset_of_max_timestamp = -1, self.base_offset
        self._sync_time_state()
        self.size = from_position
        self._sync_index_state()
        self._refresh_max_timestamp(from_position)
        if from_position == 0:
            self.first_batch_timestamp = None
        file_size = os.fstat(self.fd).st_size
        position = from_position
        next_offset = expected_offset
        need = _SCAN_CHUNK
        error: ScanError | None = None
        index = 0
        while position < file_size:
            chunk = os.pread(self.fd, min(need, file_size - position), position)
            if stats is not None:
                stats.scanned += len(chunk)
            result = native.scan_batches(chunk, strict=False)
            consumed = 0
            for info in result.batches:
                last = info.base_offset + info.last_offset_delta
                if info.base_offset < next_offset or last - self.base_offset > MAX_RELATIVE_OFFSET:
                    error = ScanError(position + info.position, index, "non_monotonic_offsets")
                    break
                placed = info._replace(position=position + info.position)
                refused = on_batch(placed) if on_batch is not None else None
                if refused is not None:
                    error = ScanError(placed.position, index, refused)
                    break
                self._index_batch(placed.position, placed)
                if self.first_batch_timestamp is None:
                    self.first_batch_timestamp = info.max_timestamp
                next_offset = last + 1
                consumed = info.position + info.size
                index += 1
            self.size = position + consumed
            if error is not None:
                break
            position += consumed
            if result.error is None:
                need = _SCAN_CHUNK
                continue
            # A batch cut by the end of the chunk (not of the file) is read again whole.
            err = result.error
            reached_eof = position - consumed + len(chunk) >= file_size
            if err.reason == "truncated" and not reached_eof:
                rest = chunk[consumed:]
                length = _HEADER.unpack_from(rest, 0)[1] if len(rest) >= 12 else 0
                need = max(_SCAN_CHUNK, LOG_OVERHEAD + length)
                continue
            error = ScanError(position - consumed + err.position, index, err.reason)
            break
        dropped = file_size - self.size
        if dropped:
            os.ftruncate(self.fd, self.size)
        self.next_offset = next_offset
        return RecoveryOutcome(self.size, next_offset, error, dropped)

    # -- truncation, renaming, closing ------------------------------------------------

    def truncate_to(self, offset: int) -> int:
        """Remove every batch whose last offset is >= ``offset``; returns the bytes removed."""
        info = self.translate(offset)
        if info is None:
            return 0
        removed = self.size - info.position
        self.offset_index.truncate_to_offset(offset)
        self.offset_index.truncate_to_position(info.position)
        self.time_index.truncate_to_offset(info.base_offset)
        os.ftruncate(self.fd, info.position)
        self.size = info.position
        self._recent = []
        self.next_offset = info.base_offset if info.position else self.base_offset
        if info.position == 0:
            self.next_offset = self.base_offset
            self.first_batch_timestamp = None
        self.max_timestamp, self.offset_of_max_timestamp = -1, self.base_offset
        self._sync_time_state()
        self._sync_index_state()
        self._refresh_max_timestamp(self.size)
        return removed

    def change_suffix(self, suffix: str) -> None:
        """Rename all three files to carry ``suffix`` (``""``, ``.deleted``, ``.swap``...)."""
        old = self.suffix
        self.suffix = suffix
        new_log = os.path.join(self.directory, file_name(self.base_offset, LOG_SUFFIX) + suffix)
        os.rename(self.log_path, new_log)
        self.log_path = new_log
        self.offset_index.rename(self._path(INDEX_SUFFIX))
        self.time_index.rename(self._path(TIME_INDEX_SUFFIX))
        del old

    def fds(self) -> list[int]:
        """Descriptors of the three files, for fsync."""
        return [self.fd, self.offset_index.fd, self.time_index.fd]

    def close(self, *, clean: bool = True) -> None:
        """Close the files; ``clean`` first adds the final time entry and trims the indexes."""
        if self.closed:
            return
        if clean:
            self.on_roll()
        self.offset_index.close()
        self.time_index.close()
        os.close(self.fd)
        self.closed = True

    def delete_files(self) -> None:
        """Close (without trimming) and unlink the three files."""
        self.close(clean=False)
        for path in (self.log_path, self.offset_index.path, self.time_index.path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
