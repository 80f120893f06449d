"""Random operation sequences against an in-memory model of a partition's log (opfuzz-style).

The model is a list of batches (offsets, bytes as stored, record timestamps)
plus the log start offset.  Every rule changes both and checks the log agrees;
restarts (clean and crash) must change nothing that the model can see.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from broker.storage import Log, LogConfig, OffsetOutOfRangeError
from unit.storage.storage_helpers import BASE_TS, make_batch

CONFIG = LogConfig(
    segment_bytes=1000,
    index_interval_bytes=120,
    segment_index_bytes=96,
    file_delete_delay_ms=0,
    retention_ms=-1,
)


@dataclass
class ModelBatch:
    base: int
    last: int
    data: bytes  # as stored: offsets and epoch patched
    timestamps: list[int]

    @property
    def max_ts(self) -> int:
        return max(self.timestamps)


def stored(batch: bytes, base: int, epoch: int) -> bytes:
    out = bytearray(batch)
    out[0:8] = base.to_bytes(8, "big")
    out[12:16] = epoch.to_bytes(4, "big", signed=True)
    return bytes(out)


class LogMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = tempfile.mkdtemp(prefix="model-")
        self.path = f"{self.root}/m-0"
        self.log = Log(self.path, CONFIG)
        self.batches: list[ModelBatch] = []
        self.start = 0
        self.epoch = 0

    def teardown(self) -> None:
        self.log.abandon()
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def end(self) -> int:
        return self.batches[-1].last + 1 if self.batches else self.start

    def visible(self) -> list[ModelBatch]:
        return [b for b in self.batches if b.last >= self.start]

    # -- operations ---------------------------------------------------------------------

    @rule(
        sizes=st.lists(st.integers(1, 4), min_size=1, max_size=3),
        deltas=st.lists(st.integers(-5, 40), min_size=12, max_size=12),
        value_size=st.integers(0, 40),
        bump_epoch=st.booleans(),
    )
    def append(
        self, sizes: list[int], deltas: list[int], value_size: int, bump_epoch: bool
    ) -> None:
        if bump_epoch:
            self.epoch += 1
        raw = []
        first = self.end
        base = first
        ts = BASE_TS + 10 * first
        expected = []
        for i, n in enumerate(sizes):
            ts_deltas = [max(0, d) for d in deltas[i * 4 : i * 4 + n]]
            batch = make_batch([bytes([i]) * value_size] * n, base_ts=ts, ts_deltas=ts_deltas)
            raw.append(batch)
            expected.append(
                ModelBatch(
                    base, base + n - 1, stored(batch, base, self.epoch), [ts + d for d in ts_deltas]
                )
            )
            base += n
        info = self.log.append_as_leader(b"".join(raw), self.epoch)
        assert (info.first_offset, info.last_offset) == (first, base - 1)
        self.batches.extend(expected)

    @rule()
    def roll(self) -> None:
        self.log.roll()

    @rule(data=st.data(), max_bytes=st.integers(1, 900), bounded=st.booleans())
    def read(self, data: st.DataObject, max_bytes: int, bounded: bool) -> None:
        offset = data.draw(st.integers(self.start, self.end))
        max_offset = data.draw(st.integers(offset, self.end)) if bounded else None
        result = self.log.read(offset, max_bytes, max_offset)
        got = result.to_bytes()
        bound = self.end if max_offset is None else max_offset
        candidates = [
            b for b in self.batches if b.last >= offset and b.base < bound and b.last < bound
        ]
        if offset >= bound or not candidates:
            assert got == b""
            return
        # a prefix of the batches from the one holding ``offset``, at least one of them
        expected = b""
        prefixes = []
        for batch in candidates:
            expected += batch.data
            prefixes.append(expected)
        assert got in prefixes, (offset, max_bytes, max_offset)
        assert len(got) <= max_bytes or got == prefixes[0]
        assert result.first_offset == candidates[0].base

    @rule(data=st.data())
    def read_out_of_range(self, data: st.DataObject) -> None:
        offset = data.draw(st.sampled_from([self.start - 1, self.end + 1]))
        if offset < 0:
            return
        try:
            self.log.read(offset, 100)
        except OffsetOutOfRangeError:
            return
        raise AssertionError(f"read at {offset} outside [{self.start}, {self.end}] succeeded")

    @precondition(lambda self: self.visible())
    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        bases = [b.base for b in self.batches if b.base >= self.start and b.base > 0] + [self.end]
        offset = data.draw(st.sampled_from(bases))
        self.log.truncate_to(offset)
        self.batches = [b for b in self.batches if b.last < offset]
        if not self.batches or offset <= self.log.segments[0].base_offset:
            self.start = min(self.start, offset) if self.batches else offset
        self.start = self.log.log_start_offset  # the log may start over at ``offset``
        if self.log.log_end_offset == offset and not self.batches:
            self.start = offset
        self.epoch = max(self.epoch, self.log.latest_epoch)

    @rule(data=st.data())
    def delete_records(self, data: st.DataObject) -> None:
        offset = data.draw(st.integers(self.start, self.end))
        assert self.log.delete_records(offset) == offset
        self.start = offset

    @rule(limit=st.integers(0, 3000))
    def retention_by_size(self, limit: int) -> None:
        self.log.config = dataclasses.replace(CONFIG, retention_bytes=limit)
        self.log.delete_old_segments(now_ms=0)
        self.log.config = CONFIG
        segments = self.log.segments
        assert len(segments) == 1 or self.log.size - limit < segments[0].size
        assert self.log.log_start_offset in (self.start, segments[0].base_offset)
        assert self.log.log_start_offset >= self.start
        self.start = self.log.log_start_offset

    @rule()
    def clean_restart(self) -> None:
        self.log.close()
        self.log = Log(self.path, CONFIG, log_start_offset=0)
        assert self.log.recovery.clean
        assert self.log.recovery.stats.scanned == 0

    @rule(flush=st.booleans())
    def crash_restart(self, flush: bool) -> None:
        if flush:
            self.log.flush()
        point = self.log.recovery_point
        start = self.log.log_start_offset  # as the manager's checkpoint would hold it
        self.log.abandon()
        self.log = Log(self.path, CONFIG, recovery_point=point, log_start_offset=start)
        assert not self.log.recovery.clean
        assert self.log.recovery.dropped_bytes == 0

    @rule(data=st.data())
    def offset_for_timestamp(self, data: st.DataObject) -> None:
        target = data.draw(st.integers(BASE_TS - 5, BASE_TS + 10 * self.end + 50))
        expected = None
        for batch in self.visible():
            if batch.max_ts >= target:
                index = next(i for i, t in enumerate(batch.timestamps) if t >= target)
                expected = (max(batch.base + index, self.start), batch.timestamps[index])
                break
        assert self.log.offset_for_timestamp(target) == expected

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def offsets_agree(self) -> None:
        assert self.log.log_end_offset == self.end
        assert self.log.log_start_offset == self.start
        assert self.log.log_start_offset <= self.log.recovery_point <= self.log.log_end_offset

    @invariant()
    def contents_agree(self) -> None:
        stored_batches = [
            (i.base_offset, i.base_offset + i.last_offset_delta) for i in self.log.batches()
        ]
        assert stored_batches == [(b.base, b.last) for b in self.visible()]
        segments = self.log.segments
        assert [s.base_offset for s in segments] == sorted(s.base_offset for s in segments)
        for segment in segments:
            assert segment.offset_index.is_sane(segment.size) or segment.offset_index.entries == 0


LogMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
test_log_against_model = LogMachine.TestCase
