"""One partition's log: a directory of segments, appended to at the end, read anywhere.

Files in ``<topic>-<partition>/``: the segments (``<base>.log``, ``.index``,
``.timeindex``), ``leader-epoch-checkpoint``, producer snapshots
(``<offset>.snapshot``) and, only while the log is closed cleanly,
``clean-shutdown`` (a small JSON record of each segment's sizes and last index
entries, deleted when the log opens, so a crash never finds one).

Named offsets, each with one owner:

* log start offset <= recovery point <= log end offset (this class);
* the high watermark lives here for checkpointing but is moved by replication.

``recovery point``: every batch below it is on disk (fsynced).

Flushing (``prepare_flush`` -> ``FlushTask.run`` -> ``complete_flush``), as
Kafka does it: a round normally costs one ``fdatasync`` of the active
segment's ``.log``.  The active segment's indexes are never fsynced by a
round; a segment's three files are fsynced by the first round after it
rolled, together with the producer snapshot its roll wrote (snapshots are
written at roll and, durably, at clean close, never per round) and the
directory.  The directory is fsynced only by a round that follows a file
creation, rename or removal (roll, truncation, retention, opening).

After a crash the segment holding the recovery point is read whole from its
start, its indexes rebuilt, and so is every later segment (and the segment
before, when the point sits exactly on a segment's base: it may have rolled
after the last round); earlier segments keep their (fsynced after their
roll) indexes after Kafka's sanity check, which rebuilds any that fail it.
Producer state comes from the newest snapshot at or below that segment's
base offset (normally the one its roll wrote), replayed up to the base, then
fed by the scan.

Threading: every method runs on the thread that owns the log (the event
loop), except ``FlushTask.run`` which does the fsyncs in a worker thread.
The storage unit is the record batch: records are never decoded on the
append or read path.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import native
from broker.storage.checkpoints import fsync_dir, write_atomically
from broker.storage.config import LogConfig
from broker.storage.epochs import LeaderEpochCache
from broker.storage.errors import (
    InvalidRecordsError,
    LogClosedError,
    OffsetOutOfRangeError,
    OutOfOrderSequenceError,
    ProducerFencedError,
    RecordTooLargeError,
    StorageError,
)
from broker.storage.producer_state import (
    SEQUENCE_MODULUS,
    BatchMetadata,
    ProducerCheck,
    ProducerEntry,
    ProducerStateManager,
    SequenceStatus,
    apply_to_entry,
    check_entry,
)
from broker.storage.segment import (
    LOG_SUFFIX,
    MAX_RELATIVE_OFFSET,
    SEGMENT_SUFFIXES,
    LogSegment,
    ReadStats,
    file_name,
)
from native.results import CRC_START, BatchInfo, NativeError

logger = logging.getLogger(__name__)

CLEAN_MARKER = "clean-shutdown"
DELETED_SUFFIX = ".deleted"
CLEANED_SUFFIX = ".cleaned"
SWAP_SUFFIX = ".swap"
SNAPSHOTS_KEPT = 5
EARLIEST_TIMESTAMP = -2
LATEST_TIMESTAMP = -1
MAX_TIMESTAMP = -3

_SEGMENT_FILE = re.compile(r"^(\d{20})\.(log|index|timeindex)$")
_ATTR_TIMESTAMP_TYPE = 0x08
_ATTR_COMPRESSION = 0x07


def wall_clock_ms() -> int:
    """Milliseconds since the epoch (the default clock)."""
    return time.time_ns() // 1_000_000


def parse_partition_dir(name: str) -> tuple[str, int] | None:
    """(topic, partition) from ``<topic>-<partition>``; None for any other name."""
    topic, sep, number = name.rpartition("-")
    if not sep or not topic or not number.isdigit():
        return None
    return topic, int(number)


class AppendInfo(NamedTuple):
    """Where an append landed.  ``duplicate``: an idempotent retry, nothing was written."""

    first_offset: int
    last_offset: int
    max_timestamp: int
    offset_of_max_timestamp: int
    log_append_time: int  # -1 unless message.timestamp.type=LogAppendTime
    log_start_offset: int
    record_count: int
    batch_count: int
    size: int
    duplicate: bool = False


class ReadResult:
    """Whole batches as a slice of a segment file, sendable without a copy.

    ``fd``/``position``/``length`` suit ``os.sendfile`` and ``os.preadv``; the
    descriptor stays open until the segment's deletion delay passes (or the
    log closes), so a result may be sent after later appends, rolls or
    retention.
    """

    __slots__ = ("fd", "position", "length", "first_offset", "next_offset")

    def __init__(
        self, fd: int, position: int, length: int, first_offset: int,
        next_offset: int | None = None,
    ) -> None:
        self.fd = fd
        self.position = position
        self.length = length
        self.first_offset = first_offset
        # The offset after the last batch, when the read learnt it (None: not known).
        self.next_offset = next_offset if length else first_offset

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return f"ReadResult(first_offset={self.first_offset}, length={self.length})"

    def to_bytes(self) -> bytes:
        """The batches as bytes (one pread; the copy the zero-copy path avoids)."""
        if not self.length:
            return b""
        return os.pread(self.fd, self.length, self.position)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Copy the batches into ``buffer`` (at least ``length`` bytes); returns bytes read."""
        view = memoryview(buffer)[: self.length]
        done = 0
        while done < self.length:
            n = os.preadv(self.fd, [view[done:]], self.position + done)
            if n == 0:
                break
            done += n
        return done

    def send_to(self, out_fd: int, sent: int = 0) -> int:
        """``os.sendfile`` the bytes after the first ``sent`` to ``out_fd``; returns bytes sent."""
        return os.sendfile(out_fd, self.fd, self.position + sent, self.length - sent)

    def detached(self) -> FileSlice:
        """The same bytes behind a descriptor of their own, valid whatever the log does next."""
        offsets = -1 if self.next_offset is None else self.next_offset - self.first_offset
        return FileSlice(os.dup(self.fd), self.position, self.length, offsets)


class FileSlice:
    """Bytes of a segment file behind a duplicated descriptor, for sending with sendfile.

    The descriptor is this object's: closing or deleting the segment (retention, a deleted
    topic, shutdown) cannot make it name another file while a response waits to be sent.  It
    is closed with ``close`` or when the slice is dropped.
    """

    __slots__ = ("fd", "position", "length", "offsets")

    def __init__(self, fd: int, position: int, length: int, offsets: int = -1) -> None:
        self.fd = fd
        self.position = position
        self.length = length
        self.offsets = offsets  # offsets its batches span; -1 when the read did not learn it

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return f"FileSlice(position={self.position}, length={self.length})"

    def send_to(self, out_fd: int, sent: int = 0) -> int:
        """``os.sendfile`` the bytes after the first ``sent`` to ``out_fd``; returns bytes sent."""
        return os.sendfile(out_fd, self.fd, self.position + sent, self.length - sent)

    def to_bytes(self) -> bytes:
        """The bytes, read into memory."""
        return os.pread(self.fd, self.length, self.position)

    def close(self) -> None:
        """Close the descriptor (idempotent)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:
        self.close()


@dataclass
class RecoveryReport:
    """What opening the log did: whether it was clean, what it read and what it dropped."""

    clean: bool
    stats: ReadStats = field(default_factory=ReadStats)
    dropped_bytes: int = 0
    dropped_segments: int = 0
    error: str = ""
    indexes_rebuilt: int = 0


class FlushTask:
    """An fsync of a log up to ``offset``, made on the log's thread and run in any thread.

    Normally one ``fdatasync`` of the active segment's ``.log``.  After a roll it
    also fsyncs the rolled segments' three files and the roll's producer
    snapshot, and after any file was created, renamed or removed, the
    directory.  The descriptors are duplicates, so the log may close or delete
    segments while ``run`` is fsyncing.
    """

    def __init__(
        self,
        log: Log,
        offset: int,
        data_fds: list[int],
        rolled: list[tuple[LogSegment, int]],
        snapshots: list[tuple[int, int]],
        directory_change: int,
    ) -> None:
        self.log = log
        self.offset = offset
        self.generation = log._generation
        self.rolled = rolled
        self.snapshots = snapshots
        self.directory_change = directory_change  # 0: the directory is not fsynced
        self._data_fds = data_fds
        self._full_fds: list[int] = []
        try:
            for segment, _ in rolled:
                for fd in segment.fds():
                    self._full_fds.append(os.dup(fd))
        except OSError:
            self.discard()
            raise
        self._snapshot_paths = [log.producers.snapshot_path(offset) for offset, _ in snapshots]
        self._directory = log.directory

    def run(self) -> None:
        """fsync what the task holds: rolled segments, active log data, snapshots, directory."""
        datasync = getattr(os, "fdatasync", os.fsync)
        try:
            for fd in self._full_fds:
                os.fsync(fd)
            for fd in self._data_fds:
                datasync(fd)
        finally:
            self.discard()
        for path in self._snapshot_paths:
            _fsync_path(path)
        if self.directory_change:
            fsync_dir(self._directory)

    def discard(self) -> None:
        """Close the task's descriptors (``run`` does once done; a task that will not run,
        because an earlier one of its round failed, must)."""
        fds, self._full_fds, self._data_fds = self._full_fds + self._data_fds, [], []
        for fd in fds:
            try:
                os.close(fd)
            except OSError:  # a duplicate's close reports nothing the fsync did not
                pass


def prepare_flushes(logs: Iterable[Log]) -> list[tuple[Log, FlushTask]]:
    """``prepare_flush`` of every open log that has something to fsync.

    When one raises, the tasks made so far are discarded before the error goes on.
    """
    tasks: list[tuple[Log, FlushTask]] = []
    try:
        for log_ in logs:
            if not log_.closed and (task := log_.prepare_flush()) is not None:
                tasks.append((log_, task))
    except BaseException:
        for _, task in tasks:
            task.discard()
        raise
    return tasks


def run_flushes(tasks: Sequence[FlushTask]) -> None:
    """``run`` each task in turn; when one fails, discard the rest and let the error go on."""
    for index, task in enumerate(tasks):
        try:
            task.run()
        except BaseException:
            for rest in tasks[index + 1:]:
                rest.discard()
            raise


def _fsync_path(path: str) -> None:
    """fsync the file at ``path``; nothing if it was deleted meanwhile (retention, truncation)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _writable(records: bytes | bytearray | memoryview) -> memoryview:
    view = memoryview(records)
    if view.readonly or view.format != "B" or not view.c_contiguous:
        view = memoryview(bytearray(view.cast("B") if view.c_contiguous else view.tobytes()))
    return view


class Log:
    """A partition's segments and the state derived from them.

    Raises ``LogClosedError`` after ``close``/``abandon``/``delete``.
    """

    def __init__(
        self,
        directory: str,
        config: LogConfig | None = None,
        *,
        clock: Callable[[], int] = wall_clock_ms,
        recovery_point: int | None = None,
        log_start_offset: int = 0,
        high_watermark: int = 0,
    ) -> None:
        """Open (creating if needed) the log in ``directory``, recovering after a crash.

        ``recovery_point`` and ``log_start_offset`` come from the manager's
        checkpoints; without a recovery point an unclean log is read whole.
        """
        self.directory = os.path.abspath(directory)
        self.config = config or LogConfig()
        self._clock = clock
        parsed = parse_partition_dir(os.path.basename(self.directory))
        self.topic, self.partition = parsed if parsed else ("", -1)
        self.closed = False
        self._generation = 0  # bumped by truncation: a flush begun before it proves nothing
        self._pending_deletes: list[tuple[int, LogSegment]] = []
        self._last_flush_ms = clock()
        # What the next flush must make durable besides log data, each tagged with a change
        # number so that a flush only clears what it saw (a roll may happen meanwhile).
        self._changes = 0
        self._unsynced_segments: dict[LogSegment, int] = {}  # rolled, indexes not fsynced
        self._unsynced_snapshots: dict[int, int] = {}  # snapshot offset -> change number
        self._directory_changed = 0  # change number of the last create/rename/unlink
        self._directory_synced = 0
        os.makedirs(self.directory, exist_ok=True)
        self.epochs = LeaderEpochCache(self.directory)
        self.producers = ProducerStateManager(self.directory)
        self.segments: list[LogSegment] = []
        self._bases: list[int] = []
        self.recovery = self._load(recovery_point, log_start_offset)
        self._directory_change()  # opening may have created or removed files: sync once
        self.high_watermark = min(max(high_watermark, self._log_start_offset), self._log_end_offset)

    # ---------------------------------------------------------------- named offsets

    @property
    def log_end_offset(self) -> int:
        """One past the last offset in the log."""
        return self._log_end_offset

    @property
    def log_start_offset(self) -> int:
        """The first offset a consumer may read (raised by retention and delete_records)."""
        return self._log_start_offset

    @property
    def recovery_point(self) -> int:
        """Every batch below this offset is fsynced."""
        return self._recovery_point

    @property
    def active_segment(self) -> LogSegment:
        """The segment appends go to."""
        return self.segments[-1]

    @property
    def size(self) -> int:
        """Bytes of all segments."""
        return sum(segment.size for segment in self.segments)

    @property
    def latest_epoch(self) -> int:
        """Newest leader epoch in the epoch cache, -1 if none."""
        return self.epochs.latest_epoch

    @property
    def unflushed_messages(self) -> int:
        """Offsets appended since the last fsync."""
        return self._log_end_offset - self._recovery_point

    def _check_open(self) -> None:
        if self.closed:
            raise LogClosedError(f"log {self.directory} is closed")

    def __repr__(self) -> str:
        return (
            f"Log({self.directory!r}, start={self._log_start_offset}, "
            f"end={self._log_end_offset}, segments={len(self.segments)})"
        )

    # ---------------------------------------------------------------- appending

    def _validate(self, view: memoryview, strict: bool) -> list[BatchInfo]:
        if not len(view):
            raise InvalidRecordsError(0, 0, "empty", "no record batches")
        result = native.scan_batches(view, strict=strict)
        if result.error is not None:
            err = result.error
            raise InvalidRecordsError(
                err.batch_index,
                err.position,
                err.reason,
                f"{len(view)} bytes, {len(result.batches)} valid batches before it",
            )
        if len(view) > self.config.segment_bytes:
            raise RecordTooLargeError(
                f"{len(view)} bytes exceed segment.bytes={self.config.segment_bytes}"
            )
        largest = max(info.size for info in result.batches)
        if largest > self.config.max_message_bytes:
            raise RecordTooLargeError(
                f"a {largest}-byte batch exceeds max.message.bytes={self.config.max_message_bytes}"
            )
        return result.batches

    def check_producer(self, records: bytes | bytearray | memoryview) -> ProducerCheck:
        """Apply the idempotence rules to the batches of ``records`` (no state change).

        Returns the first non-OK outcome (DUPLICATE carries the original
        offsets), or OK.  Batches are not validated here: only header fields
        are read.  ``append_as_leader`` makes the same check itself.
        """
        result = native.scan_batches(records, strict=False)
        return self._check_batches(result.batches)

    def _check_batches(self, batches: list[BatchInfo]) -> ProducerCheck:
        # Later batches of one request are checked against the state the earlier ones leave.
        simulated: dict[int, ProducerEntry] = {}
        offset = self._log_end_offset
        for info in batches:
            if info.producer_id >= 0 and info.base_sequence >= 0:
                pid = info.producer_id
                entry = simulated.get(pid)
                if entry is None:
                    known = self.producers.producers.get(pid)
                    entry = known.copy() if known is not None else None
                last_seq = (info.base_sequence + info.last_offset_delta) % SEQUENCE_MODULUS
                check = check_entry(entry, info.producer_epoch, info.base_sequence, last_seq)
                if check.status is not SequenceStatus.OK:
                    return check
                appended = BatchMetadata(
                    info.base_sequence,
                    last_seq,
                    offset,
                    offset + info.last_offset_delta,
                    info.max_timestamp,
                )
                simulated[pid] = apply_to_entry(entry, pid, info.producer_epoch, appended)
            offset += info.last_offset_delta + 1
        return ProducerCheck(SequenceStatus.OK)

    def append_as_leader(
        self,
        records: bytes | bytearray | memoryview,
        leader_epoch: int,
        *,
        producer_check: bool = True,
    ) -> AppendInfo:
        """Validate, assign offsets from the log end offset, and append ``records``.

        baseOffset and partitionLeaderEpoch are patched in place (a read-only
        input is copied once first).  Raises InvalidRecordsError (nothing
        written), RecordTooLargeError, OutOfOrderSequenceError or
        ProducerFencedError; an idempotent retry returns the original offsets
        with ``duplicate=True`` and writes nothing.
        """
        self._check_open()
        if leader_epoch < self.epochs.latest_epoch:
            raise StorageError(
                f"leader epoch {leader_epoch} is older than the log's latest epoch "
                f"{self.epochs.latest_epoch}"
            )
        view = _writable(records)
        batches = self._validate(view, strict=True)
        now = self._clock()
        if producer_check:
            check = self._check_batches(batches)
            if check.status is SequenceStatus.DUPLICATE:
                return AppendInfo(
                    check.first_offset,
                    check.last_offset,
                    check.timestamp,
                    check.last_offset,
                    -1,
                    self._log_start_offset,
                    check.last_offset - check.first_offset + 1,
                    1,
                    0,
                    True,
                )
            if check.status is SequenceStatus.OUT_OF_ORDER:
                raise OutOfOrderSequenceError("producer sequence does not follow the last batch")
            if check.status is SequenceStatus.FENCED:
                raise ProducerFencedError("producer epoch is older than the current one")
        append_time = -1
        if self.config.log_append_time:
            append_time = now
            self._stamp_append_time(view, batches, now)
        first = self._log_end_offset
        try:
            native.assign_offsets(view, first, leader_epoch)
        except NativeError as exc:
            raise InvalidRecordsError(0, 0, "offset_overflow", str(exc)) from None
        placed = []
        offset = first
        for info in batches:
            placed.append(
                info._replace(
                    base_offset=offset,
                    partition_leader_epoch=leader_epoch,
                    max_timestamp=now if append_time >= 0 else info.max_timestamp,
                )
            )
            offset += info.last_offset_delta + 1
        if leader_epoch >= 0 and leader_epoch > self.epochs.latest_epoch:
            self.epochs.assign(leader_epoch, first)
        return self._append(view, placed, now, append_time)

    @staticmethod
    def _stamp_append_time(view: memoryview, batches: list[BatchInfo], now: int) -> None:
        for info in batches:
            at = info.position
            attributes = info.attributes | _ATTR_TIMESTAMP_TYPE
            view[at + 21 : at + 23] = attributes.to_bytes(2, "big", signed=True)
            view[at + 35 : at + 43] = now.to_bytes(8, "big", signed=True)
            crc = native.crc32c(view[at + CRC_START : at + info.size])
            view[at + 17 : at + 21] = crc.to_bytes(4, "big")

    def append_as_follower(self, records: bytes | bytearray | memoryview) -> AppendInfo:
        """Append batches that already carry offsets and epochs (replicated from the leader).

        The first batch must start at or after the log end offset and offsets
        must increase; InvalidRecordsError otherwise (nothing written).
        """
        self._check_open()
        view = memoryview(records).cast("B")
        batches = self._validate(view, strict=False)
        expected = self._log_end_offset
        latest = self.epochs.latest_epoch
        for index, info in enumerate(batches):
            if info.base_offset < expected:
                raise InvalidRecordsError(
                    index,
                    info.position,
                    "non_monotonic_offsets",
                    f"base offset {info.base_offset} < {expected}",
                )
            expected = info.base_offset + info.last_offset_delta + 1
            if info.partition_leader_epoch < latest:
                raise InvalidRecordsError(
                    index,
                    info.position + 12,
                    "stale_leader_epoch",
                    f"epoch {info.partition_leader_epoch} < {latest}",
                )
            latest = info.partition_leader_epoch
        for info in batches:
            if info.partition_leader_epoch > self.epochs.latest_epoch:
                self.epochs.assign(info.partition_leader_epoch, info.base_offset)
        return self._append(view, batches, self._clock(), -1)

    def _append(
        self, view: memoryview, batches: list[BatchInfo], now: int, append_time: int
    ) -> AppendInfo:
        first_offset = batches[0].base_offset
        last = batches[-1]
        last_offset = last.base_offset + last.last_offset_delta
        segment = self.active_segment
        if segment.size == 0 and last_offset - segment.base_offset > MAX_RELATIVE_OFFSET:
            segment = self._roll(first_offset, now)
        elif self._should_roll(segment, len(view), batches, last_offset, now):
            segment = self._roll(self._log_end_offset, now)
            if last_offset - segment.base_offset > MAX_RELATIVE_OFFSET:
                segment = self._roll(first_offset, now)
        segment.append(view, batches)
        self._log_end_offset = last_offset + 1
        max_ts, offset_of_max, records = -1, first_offset, 0
        observe = self.producers.observe
        for info in batches:
            info_last = info.base_offset + info.last_offset_delta
            if info.max_timestamp > max_ts:
                max_ts, offset_of_max = info.max_timestamp, info_last
            records += info.record_count
            if info.producer_id >= 0:
                observe(
                    info.producer_id,
                    info.producer_epoch,
                    info.base_sequence,
                    info.base_offset,
                    info_last,
                    info.max_timestamp,
                )
        self.producers.map_end_offset = self._log_end_offset
        return AppendInfo(
            first_offset,
            last_offset,
            max_ts,
            offset_of_max,
            append_time,
            self._log_start_offset,
            records,
            len(batches),
            len(view),
        )

    def _should_roll(
        self, segment: LogSegment, size: int, batches: list[BatchInfo], last_offset: int, now: int
    ) -> bool:
        if segment.size == 0:
            return False
        if segment.size > self.config.segment_bytes - size:
            return True
        rolling = segment.rolling_timestamp()
        if rolling is not None and rolling >= 0:
            waited = max(info.max_timestamp for info in batches) - rolling
        else:
            waited = now - segment.created_ms
        if waited > self.config.segment_ms:
            return True
        if segment.free_index_slots() < len(batches):
            return True
        return last_offset - segment.base_offset > MAX_RELATIVE_OFFSET

    def roll(self) -> LogSegment:
        """Start a new active segment at the log end offset (no-op on an empty active segment)."""
        self._check_open()
        return self._roll(self._log_end_offset, self._clock())

    def _roll(self, base_offset: int, now: int) -> LogSegment:
        old = self.active_segment
        if old.size == 0:
            if old.base_offset == base_offset:
                return old
            self.segments.pop()
            self._bases.pop()
            self._unsynced_segments.pop(old, None)
            old.delete_files()
        else:
            old.on_roll()
            self._unsynced_segments[old] = self._directory_change()
        # Not fsynced here: the next flush makes the snapshot and the new files durable.
        self.producers.write_snapshot(base_offset)
        self._unsynced_snapshots[base_offset] = self._directory_change()
        self.producers.keep_newest(SNAPSHOTS_KEPT)
        segment = LogSegment(self.directory, base_offset, self.config, now_ms=now)
        segment.make_active()
        self.segments.append(segment)
        self._bases.append(base_offset)
        return segment

    def _directory_change(self) -> int:
        """Note that files were created, renamed or removed; returns the change number."""
        self._changes += 1
        self._directory_changed = self._changes
        return self._changes

    # ---------------------------------------------------------------- reading

    def read(
        self,
        offset: int,
        max_bytes: int,
        max_offset: int | None = None,
        *,
        min_one_batch: bool = True,
    ) -> ReadResult:
        """Whole batches from the one holding ``offset``, at most ``max_bytes`` of them.

        Batches holding ``max_offset`` (exclusive bound, e.g. the high
        watermark) or later are left out.  With ``min_one_batch`` the first
        batch is returned whole even when larger than ``max_bytes``.  An
        offset equal to the log end offset gives an empty result; one outside
        [log start, log end] raises OffsetOutOfRangeError.
        """
        self._check_open()
        end = self._log_end_offset
        if offset < self._log_start_offset or offset > end:
            raise OffsetOutOfRangeError(offset, self._log_start_offset, end)
        bound = end if max_offset is None else min(max_offset, end)
        if offset >= bound:
            return ReadResult(-1, 0, 0, offset)
        index = max(0, bisect.bisect_right(self._bases, offset) - 1)
        for segment in self.segments[index:]:
            info = segment.translate(offset)
            if info is None:
                continue
            if info.base_offset >= bound:
                break
            start = info.position
            limit = segment.size
            if bound < segment.next_offset or segment is not self.active_segment:
                stop = segment.translate(bound, start)
                if stop is not None:
                    limit = stop.position
            stop_at, next_offset = segment.boundary_at_or_below(
                start, min(limit, start + max_bytes)
            )
            if stop_at == start:
                if not min_one_batch or start + info.size > limit:
                    return ReadResult(-1, 0, 0, info.base_offset)
                stop_at = start + info.size
                next_offset = info.base_offset + info.last_offset_delta + 1
            return ReadResult(segment.fd, start, stop_at - start, info.base_offset, next_offset)
        return ReadResult(-1, 0, 0, offset)

    def batches(
        self, start_offset: int | None = None, end_offset: int | None = None
    ) -> Iterator[BatchInfo]:
        """Headers of the batches holding offsets in [start, end): position is per segment.

        Reads headers only; for rebuilding derived state and for tests.
        """
        start = self._log_start_offset if start_offset is None else start_offset
        end = self._log_end_offset if end_offset is None else end_offset
        yield from self._walk(start, end, None)

    def _walk(self, start: int, end: int, stats: ReadStats | None) -> Iterator[BatchInfo]:
        if start >= end or not self.segments:
            return
        index = max(0, bisect.bisect_right(self._bases, start) - 1)
        for segment in self.segments[index:]:
            if segment.base_offset >= end:
                return
            found = segment.translate(start) if start > segment.base_offset else None
            position = found.position if found is not None else 0
            if found is None and start > segment.base_offset:
                continue
            for info in segment.iter_headers(position, stats=stats):
                if info.base_offset >= end:
                    return
                yield info

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record with a timestamp >= ``timestamp``; None if none.

        -2 / -1 / -3 ask for the log start, the log end, and the record with
        the largest timestamp (ListOffsets' special values).  Within an
        uncompressed batch the exact record is found; within a compressed one
        the batch's first offset is returned.
        """
        self._check_open()
        if timestamp == EARLIEST_TIMESTAMP:
            return self._log_start_offset, -1
        if timestamp == LATEST_TIMESTAMP:
            return self._log_end_offset, -1
        if timestamp == MAX_TIMESTAMP:
            best = max(self.segments, key=lambda s: s.max_timestamp)
            if best.max_timestamp < 0:
                return None
            # The segment knows the batch holding the largest timestamp, not the record: the
            # first record reaching that timestamp is the one (batch precision if compressed).
            return self.offset_for_timestamp(best.max_timestamp)
        for segment in self.segments:
            if segment.max_timestamp < timestamp:
                continue
            entry = segment.time_index.lookup(timestamp)
            from_offset = max(entry[1] if entry else segment.base_offset, self._log_start_offset)
            found = segment.translate(from_offset)
            if found is None:
                continue
            for info in segment.iter_headers(found.position):
                if (
                    info.max_timestamp < timestamp
                    or info.base_offset + info.last_offset_delta < self._log_start_offset
                ):
                    continue
                offset, ts = self._first_record_at_or_after(segment, info, timestamp)
                return max(offset, self._log_start_offset), ts
        return None

    @staticmethod
    def _first_record_at_or_after(
        segment: LogSegment, info: BatchInfo, timestamp: int
    ) -> tuple[int, int]:
        if info.attributes & (_ATTR_COMPRESSION | _ATTR_TIMESTAMP_TYPE):
            return info.base_offset, info.max_timestamp
        data = segment.read_bytes(info.position, info.size)
        at = 61
        for _ in range(info.record_count):
            length, at_body = _varint(data, at)
            delta, after_ts = _varint(data, at_body + 1)  # after the attributes byte
            offset_delta, _ = _varint(data, after_ts)
            if info.base_timestamp + delta >= timestamp:
                return info.base_offset + offset_delta, info.base_timestamp + delta
            at = at_body + length
        return info.base_offset, info.max_timestamp

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """(largest epoch <= ``epoch``, end offset of that epoch); (-1, -1) if unknown."""
        self._check_open()
        return self.epochs.end_offset_for_epoch(epoch, self._log_end_offset)

    # ---------------------------------------------------------------- truncation and deletion

    def truncate_to(self, offset: int) -> None:
        """Remove every batch whose last offset is >= ``offset`` (a follower diverged).

        Afterwards the log end offset is the base offset of the first removed
        batch (``offset`` itself when ``offset`` is a batch boundary).
        """
        self._check_open()
        if offset >= self._log_end_offset:
            return
        if offset < 0:
            raise OffsetOutOfRangeError(offset, self._log_start_offset, self._log_end_offset)
        if offset < self._log_start_offset or offset <= self.segments[0].base_offset:
            self.truncate_fully_and_start_at(offset)
            return
        self._generation += 1
        now = self._clock()
        while len(self.segments) > 1 and self.segments[-1].base_offset >= offset:
            self._schedule_delete(self.segments.pop(), now)
            self._bases.pop()
        segment = self.active_segment
        segment.truncate_to(offset)
        segment.make_active()
        self._unsynced_segments.pop(segment, None)  # active again: flushes sync its data
        self._log_end_offset = segment.next_offset if segment.size else segment.base_offset
        if self._log_end_offset < self._log_start_offset:
            self._log_start_offset = self._log_end_offset
        self._after_truncation()

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Delete every segment and start empty at ``offset`` (also the new log start)."""
        self._check_open()
        self._generation += 1
        now = self._clock()
        for segment in self.segments:
            self._schedule_delete(segment, now)
        segment = LogSegment(self.directory, offset, self.config, now_ms=now)
        segment.make_active()
        self._directory_change()
        self.segments = [segment]
        self._bases = [offset]
        self._log_end_offset = self._log_start_offset = offset
        self.epochs.reset([])
        self.producers.delete_snapshots(above=-1)
        self.producers.clear(offset)
        self._after_truncation()

    def _after_truncation(self) -> None:
        end = self._log_end_offset
        self._recovery_point = min(self._recovery_point, end)
        self.high_watermark = min(self.high_watermark, end)
        self.epochs.truncate_from_end(end)
        self.producers.delete_snapshots(above=end)
        self._directory_change()
        self._rebuild_producers(end, None)

    def _rebuild_producers(self, end: int, stats: ReadStats | None) -> None:
        start = self.producers.load_latest(end, self._log_start_offset)
        for info in self._walk(start, end, stats):
            self._observe_header(info)
        self.producers.map_end_offset = end

    def _observe_header(self, info: BatchInfo) -> None:
        if info.producer_id >= 0:
            self.producers.observe(
                info.producer_id,
                info.producer_epoch,
                info.base_sequence,
                info.base_offset,
                info.base_offset + info.last_offset_delta,
                info.max_timestamp,
            )

    def delete_records(self, offset: int) -> int:
        """Raise the log start offset to ``offset`` (DeleteRecords); returns the new log start.

        Whole segments below it are deleted.  OffsetOutOfRangeError when
        ``offset`` is past the log end offset; the broker checks the high watermark.
        """
        self._check_open()
        if offset < 0 or offset > self._log_end_offset:
            raise OffsetOutOfRangeError(offset, self._log_start_offset, self._log_end_offset)
        if offset > self._log_start_offset:
            self._log_start_offset = offset
            self._on_log_start_moved()
            self._delete_segments_below_log_start(self._clock())
        return self._log_start_offset

    def _on_log_start_moved(self) -> None:
        self.epochs.truncate_from_start(self._log_start_offset)
        self.producers.evict_before(self._log_start_offset)
        self.high_watermark = max(self.high_watermark, self._log_start_offset)
        self._recovery_point = max(
            self._recovery_point, min(self._log_start_offset, self._log_end_offset)
        )

    def _delete_segments_below_log_start(self, now: int) -> int:
        deleted = 0
        while len(self.segments) > 1 and self.segments[1].base_offset <= self._log_start_offset:
            self._delete_first(now)
            deleted += 1
        return deleted

    def _delete_first(self, now: int) -> None:
        self._schedule_delete(self.segments.pop(0), now)
        self._bases.pop(0)
        if self.segments[0].base_offset > self._log_start_offset:
            self._log_start_offset = self.segments[0].base_offset
            self._on_log_start_moved()
        self.producers.delete_snapshots(below=self.segments[0].base_offset)

    def delete_old_segments(self, now_ms: int) -> int:
        """Retention: delete whole non-active segments past ``retention.ms`` or ``retention.bytes``.

        Also deletes segments wholly below the log start offset and the files
        of earlier deletions whose ``file.delete.delay.ms`` has passed.
        Returns the number of segments deleted now.
        """
        self._check_open()
        deleted = self._delete_segments_below_log_start(now_ms)
        config = self.config
        if config.delete and config.retention_ms >= 0:
            while (
                len(self.segments) > 1
                and now_ms - self.segments[0].largest_timestamp > config.retention_ms
            ):
                self._delete_first(now_ms)
                deleted += 1
        if config.delete and config.retention_bytes >= 0:
            excess = self.size - config.retention_bytes
            while len(self.segments) > 1 and excess >= self.segments[0].size:
                excess -= self.segments[0].size
                self._delete_first(now_ms)
                deleted += 1
        self.purge_deleted(now_ms)
        return deleted

    def _schedule_delete(self, segment: LogSegment, now: int) -> None:
        segment.change_suffix(DELETED_SUFFIX)
        self._unsynced_segments.pop(segment, None)
        self._directory_change()
        self._pending_deletes.append((now + self.config.file_delete_delay_ms, segment))

    def purge_deleted(self, now_ms: int | None = None) -> None:
        """Close and unlink deleted segments whose delay has passed (all if ``now_ms`` is None)."""
        keep = []
        for due, segment in self._pending_deletes:
            if now_ms is None or due <= now_ms:
                segment.delete_files()
            else:
                keep.append((due, segment))
        self._pending_deletes = keep

    # ---------------------------------------------------------------- compaction support

    def new_cleaned_segment(self, base_offset: int) -> LogSegment:
        """An empty segment with ``.cleaned`` files for the cleaner to fill (appends go through
        ``LogSegment.append``); hand it to ``replace_segments`` when complete."""
        segment = LogSegment(
            self.directory, base_offset, self.config, now_ms=self._clock(), suffix=CLEANED_SUFFIX
        )
        segment.make_active()
        return segment

    def replace_segments(self, new: LogSegment, old: list[LogSegment]) -> None:
        """Atomically swap the rolled segments ``old`` for ``new`` (Kafka's rename protocol).

        ``.cleaned`` -> ``.swap`` (from here recovery completes the swap), old
        files -> ``.deleted``, ``.swap`` -> final names.  ``new`` must cover the
        offsets of ``old``; the active segment cannot be replaced.
        """
        self._check_open()
        if self.active_segment in old or not old:
            raise ValueError("only rolled segments can be replaced")
        new.on_roll()
        for fd in new.fds():
            os.fsync(fd)
        new.change_suffix(SWAP_SUFFIX)
        fsync_dir(self.directory)
        now = self._clock()
        for segment in old:
            index = self.segments.index(segment)
            self.segments.pop(index)
            self._bases.pop(index)
            self._schedule_delete(segment, now)
        new.change_suffix("")
        fsync_dir(self.directory)
        new.next_offset = max(new.next_offset, max(s.next_offset for s in old))
        index = bisect.bisect_left(self._bases, new.base_offset)
        self.segments.insert(index, new)
        self._bases.insert(index, new.base_offset)

    # ---------------------------------------------------------------- flushing

    def needs_flush(self, now_ms: int) -> bool:
        """True when ``flush.messages`` or ``flush.ms`` asks for an fsync now."""
        pending = self._log_end_offset - self._recovery_point
        if pending <= 0:
            return False
        if pending >= self.config.flush_messages:
            return True
        return now_ms - self._last_flush_ms >= self.config.flush_ms

    def prepare_flush(self) -> FlushTask | None:
        """An fsync of everything appended so far, to ``run`` in a worker thread; None if clean.

        The active segment's indexes are left to the page cache (recovery
        rebuilds them by reading that segment whole); a rolled segment's files,
        the producer snapshot taken at its roll, and the directory are fsynced
        by the first flush after the roll.
        """
        self._check_open()
        changed = self._directory_changed
        directory = changed if changed > self._directory_synced else 0
        rolled = dict(self._unsynced_segments)
        # Every segment between the recovery point's and the active one was rolled after
        # the last complete flush, so it is normally listed already.
        first = max(0, bisect.bisect_right(self._bases, self._recovery_point) - 1)
        for segment in self.segments[first:-1]:
            rolled.setdefault(segment, 0)
        active = self.active_segment
        rolled.pop(active, None)  # re-activated by a truncation: its data is synced below
        data = self._log_end_offset > self._recovery_point
        if not (data or rolled or self._unsynced_snapshots or directory):
            return None
        fds = [os.dup(active.fd)] if data and active.size else []
        return FlushTask(
            self,
            self._log_end_offset,
            fds,
            sorted(rolled.items(), key=lambda item: item[0].base_offset),
            list(self._unsynced_snapshots.items()),
            directory,
        )

    def complete_flush(self, task: FlushTask) -> None:
        """Advance the recovery point after ``task.run`` succeeded (on the log's thread)."""
        for segment, change in task.rolled:
            if self._unsynced_segments.get(segment) == change:
                del self._unsynced_segments[segment]
        for offset, change in task.snapshots:
            if self._unsynced_snapshots.get(offset) == change:
                del self._unsynced_snapshots[offset]
        self._directory_synced = max(self._directory_synced, task.directory_change)
        if task.generation == self._generation and not self.closed:
            self._recovery_point = max(self._recovery_point, min(task.offset, self._log_end_offset))
            self._last_flush_ms = self._clock()

    def flush(self) -> None:
        """fsync everything appended so far, here and now."""
        task = self.prepare_flush()
        if task is not None:
            task.run()
            self.complete_flush(task)
        else:
            self._last_flush_ms = self._clock()

    # ---------------------------------------------------------------- closing

    def close(self) -> None:
        """Clean shutdown: fsync, trim indexes, snapshot producers, write the clean marker."""
        if self.closed:
            return
        for segment in self.segments:
            segment.on_roll()
            for fd in segment.fds():
                os.fsync(fd)
        for offset in self._unsynced_snapshots:
            _fsync_path(self.producers.snapshot_path(offset))
        end = self._log_end_offset
        self.producers.write_snapshot(end, durable=True)
        self.producers.keep_newest(SNAPSHOTS_KEPT)
        marker = {
            "version": 1,
            "log_start_offset": self._log_start_offset,
            "log_end_offset": end,
            "segments": [self._segment_facts(s) for s in self.segments],
        }
        self.purge_deleted()
        for segment in self.segments:
            segment.close(clean=False)
        write_atomically(os.path.join(self.directory, CLEAN_MARKER), json.dumps(marker).encode())
        self.closed = True

    @staticmethod
    def _segment_facts(segment: LogSegment) -> list[object]:
        return [
            segment.base_offset,
            segment.next_offset,
            segment.size,
            segment.offset_index.file_size,
            segment.offset_index.raw_entries()[-8:].hex(),
            segment.time_index.file_size,
            segment.time_index.raw_entries()[-12:].hex(),
        ]

    def abandon(self) -> None:
        """Release the files without any shutdown work: what a crash leaves behind."""
        if self.closed:
            return
        for segment in self.segments:
            segment.close(clean=False)
        for _, segment in self._pending_deletes:
            segment.close(clean=False)
        self._pending_deletes = []
        self.closed = True

    def delete(self) -> None:
        """Close and remove the whole directory (the manager renames it first)."""
        self.abandon()
        shutil.rmtree(self.directory, ignore_errors=True)

    # ---------------------------------------------------------------- loading

    def _load(self, recovery_point: int | None, log_start_offset: int) -> RecoveryReport:
        directory = self.directory
        for name in os.listdir(directory):
            if name.endswith((".tmp", CLEANED_SUFFIX, DELETED_SUFFIX)):
                os.unlink(os.path.join(directory, name))
        self._complete_swaps()
        bases = set()
        for name in os.listdir(directory):
            match = _SEGMENT_FILE.match(name)
            if match and match.group(2) == "log":
                bases.add(int(match.group(1)))
        for name in os.listdir(directory):  # indexes without a log are left from a crash
            match = _SEGMENT_FILE.match(name)
            if match and int(match.group(1)) not in bases:
                os.unlink(os.path.join(directory, name))
        marker = self._take_marker()
        now = self._clock()
        self.segments = [LogSegment(directory, b, self.config, now_ms=now) for b in sorted(bases)]
        if not self.segments:
            self.segments = [LogSegment(directory, log_start_offset, self.config, now_ms=now)]
        self._bases = [s.base_offset for s in self.segments]
        self._log_start_offset = max(log_start_offset, self.segments[0].base_offset)
        report = None
        if marker is not None:
            report = self._load_clean(marker)
        if report is None:
            report = self._recover(recovery_point)
        self._log_start_offset = min(self._log_start_offset, self._log_end_offset)
        self.active_segment.make_active()
        if not self.epochs.loaded:
            self._rebuild_epochs(report.stats)
        else:
            self.epochs.truncate_from_end(self._log_end_offset)
            self.epochs.truncate_from_start(self._log_start_offset)
        self.producers.delete_snapshots(above=self._log_end_offset)
        if report.clean:
            self._rebuild_producers(self._log_end_offset, report.stats)
        return report

    def _take_marker(self) -> dict | None:
        path = os.path.join(self.directory, CLEAN_MARKER)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        os.unlink(path)
        fsync_dir(self.directory)
        try:
            marker = json.loads(raw)
            if marker.get("version") != 1:
                return None
            return marker
        except (ValueError, AttributeError):
            return None

    def _load_clean(self, marker: dict) -> RecoveryReport | None:
        facts = {entry[0]: entry for entry in marker["segments"]}
        if sorted(facts) != self._bases:
            return None
        if any(facts[s.base_offset][2] != s.size for s in self.segments):
            return None
        report = RecoveryReport(clean=True)
        for segment in self.segments:
            fact = facts[segment.base_offset]
            now_facts = self._segment_facts(segment)
            if fact[2:] == now_facts[2:]:
                segment.load_clean(fact[1])
            else:  # an index was lost or damaged: rebuild it from the (fsynced) log
                report.indexes_rebuilt += 1
                segment.make_active()
                segment.recover(0, segment.base_offset, None, report.stats)
                segment.on_roll()
        self._log_end_offset = marker["log_end_offset"]
        self._log_start_offset = max(self._log_start_offset, marker["log_start_offset"])
        self._recovery_point = self._log_end_offset
        return report

    def _recover(self, recovery_point: int | None) -> RecoveryReport:
        report = RecoveryReport(clean=False)
        point = self._log_start_offset if recovery_point is None else recovery_point
        point = max(point, self.segments[0].base_offset)
        # The segment holding the recovery point is read whole: flushes fsync its log data
        # but not its indexes (those of earlier segments were fsynced by the round after
        # their roll).  A point exactly on a segment's base may be a round that ran just
        # before that roll, so no round has fsynced the rolled segment's indexes: it is read
        # whole too.
        first = max(0, bisect.bisect_right(self._bases, point) - 1)
        if first and self._bases[first] == point:
            first -= 1
        rebuilt = []
        for index in range(first):
            segment = self.segments[index]
            next_base = self.segments[index + 1].base_offset
            if not segment.offset_index.is_sane(segment.size) or not segment.time_index.is_sane(
                next_base
            ):
                report.indexes_rebuilt += 1
                segment.make_active()
                segment.recover(0, segment.base_offset, None, report.stats)
                segment.on_roll()
                rebuilt.append(segment)
            segment.load_clean(next_base)
        # Producer state up to the segment's start (a roll's snapshot usually sits right
        # there), then fed by the scan.
        segment = self.segments[first]
        from_position, expected = 0, segment.base_offset
        snapshot_from = self.producers.load_latest(expected, self._log_start_offset)
        for info in self._walk(snapshot_from, expected, report.stats):
            self._observe_header(info)
        epochs = self.epochs
        known = list(epochs.entries) if epochs.loaded else None
        contiguous = not self.config.compact
        expected_next = [expected]

        def on_batch(info: BatchInfo) -> str | None:
            # Neither the offset nor the epoch is covered by the CRC: check them against
            # what the log promises (contiguous offsets; epochs persisted before the data).
            if contiguous and info.base_offset != expected_next[0]:
                return "unexpected_offset"
            if known is not None and not _epoch_matches(known, info):
                return "unexpected_leader_epoch"
            if info.partition_leader_epoch > epochs.latest_epoch:
                epochs.assign(info.partition_leader_epoch, info.base_offset, persist=False)
            self._observe_header(info)
            expected_next[0] = info.base_offset + info.last_offset_delta + 1
            return None

        next_offset = expected
        for index in range(first, len(self.segments)):
            segment = self.segments[index]
            segment.make_active()
            if index > first:
                from_position, expected = 0, max(next_offset, segment.base_offset)
            outcome = segment.recover(from_position, expected, on_batch, report.stats)
            next_offset = (
                outcome.next_offset if segment.size else max(next_offset, segment.base_offset)
            )
            if index + 1 < len(self.segments):
                segment.on_roll()
            if outcome.error is not None or outcome.dropped_bytes:
                report.dropped_bytes += outcome.dropped_bytes
                if outcome.error is not None:
                    report.error = (
                        f"{file_name(segment.base_offset, LOG_SUFFIX)} byte "
                        f"{outcome.error.position}: {outcome.error.reason}"
                    )
                for later in self.segments[index + 1 :]:
                    report.dropped_bytes += later.size
                    report.dropped_segments += 1
                    later.delete_files()
                del self.segments[index + 1 :]
                del self._bases[index + 1 :]
                break
        self._log_end_offset = max(next_offset, self.active_segment.base_offset)
        if self.active_segment.size == 0:
            self._log_end_offset = self.active_segment.base_offset
        if epochs.loaded:
            epochs.truncate_from_end(self._log_end_offset)
            epochs.reset(epochs.entries)
        self.producers.map_end_offset = self._log_end_offset
        self.producers.evict_before(self._log_start_offset)
        for segment in rebuilt + self.segments[first:]:
            if segment.size:  # an empty segment (a new log's) holds nothing to make durable
                for fd in segment.fds():
                    os.fsync(fd)
        self._recovery_point = self._log_end_offset
        if report.dropped_bytes:
            logger.warning(
                "%s: recovery dropped %d bytes, offsets from %d on (%d later segments); "
                "first invalid byte: %s",
                self.directory,
                report.dropped_bytes,
                self._log_end_offset,
                report.dropped_segments,
                report.error or "none, a torn tail",
            )
        return report

    def _rebuild_epochs(self, stats: ReadStats) -> None:
        entries: list[tuple[int, int]] = []
        for info in self._walk(self.segments[0].base_offset, self._log_end_offset, stats):
            if info.partition_leader_epoch >= 0 and (
                not entries or info.partition_leader_epoch > entries[-1][0]
            ):
                entries.append((info.partition_leader_epoch, info.base_offset))
        self.epochs.reset(entries)
        self.epochs.truncate_from_start(self._log_start_offset)

    def _complete_swaps(self) -> None:
        """Finish a replacement a crash interrupted: a ``.swap`` log is complete by construction."""
        directory = self.directory
        swaps = sorted(n for n in os.listdir(directory) if n.endswith(LOG_SUFFIX + SWAP_SUFFIX))
        if not swaps:
            return
        for name in swaps:
            base = int(name[:20])
            segment = LogSegment(
                directory, base, self.config, now_ms=self._clock(), suffix=SWAP_SUFFIX
            )
            segment.make_active()
            outcome = segment.recover(0, base)
            end = outcome.next_offset
            for other in os.listdir(directory):
                match = _SEGMENT_FILE.match(other)
                if match and base <= int(match.group(1)) < end:
                    os.unlink(os.path.join(directory, other))
            segment.change_suffix("")
            segment.close(clean=True)
            logger.warning(
                "%s: completed an interrupted segment swap at offset %d", directory, base
            )
        for name in os.listdir(directory):  # index swaps whose log swap was already renamed
            if name.endswith(SWAP_SUFFIX):
                os.unlink(os.path.join(directory, name))
        fsync_dir(directory)


def _epoch_matches(entries: list[tuple[int, int]], info: BatchInfo) -> bool:
    """Whether a batch carries the epoch the cache gives its offset (the last entry at or
    below it); below the first entry (trimmed by the log start) any older epoch fits."""
    index = bisect.bisect_right(entries, info.base_offset, key=lambda entry: entry[1]) - 1
    if index >= 0:
        return info.partition_leader_epoch == entries[index][0]
    return not entries or info.partition_leader_epoch <= entries[0][0]


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """A zigzag varint at ``data[at:]``: (value, position after it)."""
    shift = result = 0
    while True:
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (result >> 1) ^ -(result & 1), at
        shift += 7


__all__ = [
    "AppendInfo",
    "FlushTask",
    "Log",
    "ReadResult",
    "RecoveryReport",
    "SEGMENT_SUFFIXES",
    "parse_partition_dir",
]
