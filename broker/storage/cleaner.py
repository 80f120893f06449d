"""Log compaction: a compacted log keeps, in its rolled segments, only the last record of each key.

For logs with ``cleanup.policy`` including ``compact``.  One cleaning pass:

1. ``Cleaner.prepare(log)`` (the log's thread) takes the rolled segments and the active
   segment's current size: rolled segments are immutable and the active one only grows, so
   everything the pass reads stays as it was while it runs.
2. ``CleanJob.run(now_ms)`` (any thread, e.g. a worker) reads every record once to find the
   last offset of each key (the active segment included: a newer record there supersedes an
   older one in a rolled segment), then writes the records that survive into ``.cleaned``
   segments — the last record of each key, and tombstones (null values) younger than
   ``delete.retention.ms`` — each in a batch of its own that keeps the record's offset,
   timestamp, key, headers and the original batch's leader epoch.
3. ``Cleaner.finish(job)`` (the log's thread) swaps each cleaned segment in for the segments
   it replaces with ``Log.replace_segments`` (``.cleaned`` → ``.swap`` → final names, which
   recovery completes or discards), unless retention or truncation removed one meanwhile.

Records are decoded here, unlike on the append and read paths: compaction is background work.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, field

import native
from client.records import Compression, build_batch, decode_batches

from broker.storage.log import Log
from broker.storage.segment import MAX_RELATIVE_OFFSET, LogSegment

log = logging.getLogger("rillet.cleaner")

_COMPRESSION_MASK = 0x07


@dataclass
class CleanJob:
    """One cleaning pass over a log; built by ``Cleaner.prepare``."""

    log: Log
    rolled: list[LogSegment]
    active: LogSegment
    active_stop: int
    end_offset: int
    results: list[tuple[LogSegment, list[LogSegment]]] = field(default_factory=list)
    records_read: int = 0
    records_kept: int = 0
    bytes_before: int = 0
    bytes_after: int = 0

    def _segment_batches(self, segment: LogSegment, stop: int) -> list:
        if stop <= 0:
            return []
        return decode_batches(segment.read_bytes(0, stop), allow_partial=True)

    def run(self, now_ms: int) -> None:
        """Find the last offset of every key, then write the surviving records (any thread)."""
        latest: dict[bytes, int] = {}
        decoded = []
        for segment in self.rolled:
            batches = self._segment_batches(segment, segment.size)
            decoded.append((segment, batches))
            self._note_keys(batches, latest)
        self._note_keys(self._segment_batches(self.active, self.active_stop), latest)
        retention = self.log.config.delete_retention_ms
        group: list[LogSegment] = []
        pending: list[bytes] = []
        pending_size = 0
        for segment, batches in decoded:
            kept: list[bytes] = []
            for batch in batches:
                codec = Compression(batch.attributes & _COMPRESSION_MASK)
                for record in batch.records:
                    if record.key is not None and latest.get(record.key) != record.offset:
                        continue
                    if record.value is None and now_ms - record.timestamp > retention:
                        continue
                    kept.append(
                        build_batch(
                            [record.value], [record.key], [record.headers], [record.timestamp],
                            base_offset=record.offset, compression=codec,
                            partition_leader_epoch=batch.partition_leader_epoch,
                        )
                    )  # fmt: skip
            self.bytes_before += segment.size
            size = sum(len(b) for b in kept)
            span = segment.next_offset - (group[0].base_offset if group else segment.base_offset)
            if group and (
                pending_size + size > self.log.config.segment_bytes or span > MAX_RELATIVE_OFFSET
            ):
                self._write(group, pending)
                group, pending, pending_size = [], [], 0
            group.append(segment)
            pending += kept
            pending_size += size
        if group:
            self._write(group, pending)

    def _note_keys(self, batches: list, latest: dict[bytes, int]) -> None:
        for batch in batches:
            for record in batch.records:
                self.records_read += 1
                if record.key is not None:
                    latest[record.key] = record.offset

    def _write(self, group: list[LogSegment], batches: list[bytes]) -> None:
        cleaned = self.log.new_cleaned_segment(group[0].base_offset)
        if batches:
            data = memoryview(b"".join(batches))
            cleaned.append(data, native.scan_batches(data).batches)
        self.records_kept += len(batches)
        self.bytes_after += cleaned.size
        self.results.append((cleaned, group))


class Cleaner:
    """Decides when a compacted log needs cleaning and applies finished passes."""

    def __init__(self) -> None:
        # log -> end offset of its last cleaned range
        self._clean_until: weakref.WeakKeyDictionary[Log, int] = weakref.WeakKeyDictionary()

    def prepare(self, log_: Log) -> CleanJob | None:
        """A pass over ``log_`` when it is compacted and has rolled data not cleaned yet."""
        if log_.closed or not log_.config.compact or len(log_.segments) < 2:
            return None
        rolled = list(log_.segments[:-1])
        end = rolled[-1].next_offset
        if end <= self._clean_until.get(log_, -1):
            return None
        active = log_.segments[-1]
        return CleanJob(log_, rolled, active, active.size, end)

    def finish(self, job: CleanJob) -> bool:
        """Swap the cleaned segments in; False (and nothing changed) if the log moved on."""
        log_ = job.log
        present = not log_.closed and all(
            old in log_.segments for _, group in job.results for old in group
        )
        if not present:
            for cleaned, _ in job.results:
                cleaned.close()
                cleaned.delete_files()
            return False
        for cleaned, group in job.results:
            log_.replace_segments(cleaned, group)
        self._clean_until[log_] = job.end_offset
        log.info(
            "cleaned %s: %d of %d records kept, %d -> %d bytes",
            log_.directory, job.records_kept, job.records_read, job.bytes_before, job.bytes_after,
        )
        return True
