"""The producer's record accumulator: per-partition batches, delivery futures, memory.

``Accumulator.append`` is the producer's hot path and does as little as possible per
record: find the partition's open batch, append the value (and key, headers, timestamp only
when given) to plain Python lists, add the estimated size, and return a
:class:`RecordFuture` — two slots pointing at the batch and the record's index. There is
one completion per batch (:class:`ProducerBatch`), and a record's :class:`RecordMetadata`
is computed only when someone asks for it. The records themselves are encoded once per
batch, by the native encoder, when the sender drains the batch.

Partition choice happens here too: an explicit partition wins; a key is hashed with
murmur2 like the Java client (or by a custom partitioner); keyless records stick to one
partition until its batch is sealed, then move to another partition that has a leader
(sticky partitioning, as Kafka's KIP-480).

Per partition the accumulator keeps the open batch, the sealed batches waiting to be sent
(``ready``, in sequence order, retries first) and the batches in flight (``inflight``), plus
the next idempotence sequence number. The sender (``client.producer``) owns the policy:
when to seal, where to send, how to retry. This module does no I/O and knows nothing of trio
except the events that futures wait on; when a sync facade appends from another thread it
takes ``Accumulator.lock`` around :meth:`Accumulator.append`, and the sender takes it
around everything that touches open batches.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from typing import Any, NamedTuple

import trio

from client.errors import (
    IllegalStateError,
    KafkaError,
    KafkaTimeoutError,
    MessageTooLargeError,  # type: ignore[attr-defined]
)
from client.records import Compression, build_batch, murmur2

def _as_bytes(value: Any, what: str) -> bytes:
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(
        f"{what} must be bytes (or bytearray/memoryview), got {type(value).__name__}; "
        f"set {what}_serializer to send other types"
    )


__all__ = [
    "Accumulator",
    "BufferPool",
    "PartitionState",
    "ProducerBatch",
    "RecordFuture",
    "RecordMetadata",
    "TopicState",
    "RECORD_OVERHEAD",
]

# Bytes a record adds to a batch besides its key and value (length, attributes, deltas,
# key/value lengths, header count), a generous estimate for small records.
RECORD_OVERHEAD = 12
# The batch header, counted once per batch towards batch_size and buffer_memory.
BATCH_OVERHEAD = 61
INT32_MAX = 2**31 - 1

Headers = Sequence[tuple[str, bytes | None]]
Partitioner = Callable[[bytes, list[int], list[int]], int]


class RecordMetadata(NamedTuple):
    """Where a record landed: its topic, partition, offset (-1 when unknown, as with acks=0)
    and timestamp (the broker's log append time when the topic uses it, else create time)."""

    topic: str
    partition: int
    offset: int
    timestamp: int


class ProducerBatch:
    """Records for one partition, sent and acknowledged together; the shared completion of
    their futures."""

    __slots__ = (
        "topic",
        "partition",
        "values",
        "keys",
        "headers",
        "timestamps",
        "size",
        "reserved",
        "columns",
        "created",
        "created_ms",
        "deadline",
        "base_sequence",
        "producer_id",
        "producer_epoch",
        "attempts",
        "retry_at",
        "encoded",
        "base_offset",
        "log_append_time",
        "error",
        "last_error",
        "completed",
        "thread_event",
        "_event",
        "_callbacks",
    )

    def __init__(self, topic: str, partition: int, created: float, deadline: float) -> None:
        self.topic = topic
        self.partition = partition
        self.values: list[bytes | None] = []
        self.keys: list[bytes | None] | None = None
        self.headers: list[Headers | None] | None = None
        self.timestamps: list[int] | None = None
        self.size = BATCH_OVERHEAD
        self.reserved = 0  # bytes of buffer_memory held for this batch
        self.columns = False  # True once keys, headers or timestamps are recorded
        self.created = created
        self.created_ms = time.time_ns() // 1_000_000
        self.deadline = deadline
        self.base_sequence = -1
        self.producer_id = -1
        self.producer_epoch = -1
        self.attempts = 0
        self.retry_at = 0.0
        self.encoded: bytes | memoryview | None = None
        self.base_offset = -1
        self.log_append_time = -1
        self.error: BaseException | None = None
        self.last_error: BaseException | None = None  # why the latest attempt failed
        self.completed = False
        # set for batches of a sync producer, whose users wait from their own thread
        self.thread_event: threading.Event | None = None
        self._event: trio.Event | None = None
        self._callbacks: list[Callable[[ProducerBatch], Any]] | None = None

    def __repr__(self) -> str:
        return (
            f"<ProducerBatch {self.topic}-{self.partition} records={len(self.values)} "
            f"seq={self.base_sequence} attempts={self.attempts}>"
        )

    @property
    def record_count(self) -> int:
        """Number of records in the batch."""
        return len(self.values)

    def encode(
        self,
        compression: Compression,
        producer_id: int,
        producer_epoch: int,
        pool: BufferPool | None = None,
    ) -> bytes | memoryview:
        """The batch's bytes (native encoder); re-encoded only when the identity changed.

        With a ``pool``, an uncompressed batch is written into one of its buffers (then a
        memoryview), which :meth:`give_buffer` hands back once the batch is delivered."""
        encoded = self.encoded
        if (
            encoded is None
            or self.producer_id != producer_id
            or self.producer_epoch != producer_epoch
        ):
            self.producer_id = producer_id
            self.producer_epoch = producer_epoch
            into = None
            if pool is not None and compression == Compression.NONE:
                into = encoded.obj if type(encoded) is memoryview else pool.take(self.size)
            self.encoded = build_batch(
                self.values,
                self.keys,
                self.headers,
                self.timestamps,
                compression=compression,
                producer_id=producer_id,
                producer_epoch=producer_epoch,
                base_sequence=self.base_sequence,
                now_ms=self.created_ms,
                into=into,
            )
        return self.encoded

    def give_buffer(self, pool: BufferPool) -> None:
        """Hand the buffer the batch was encoded into back to ``pool``; only for a delivered
        batch, whose bytes no request is writing any more."""
        encoded = self.encoded
        if type(encoded) is memoryview:
            self.encoded = None
            pool.give(encoded.obj)

    def resequence(self) -> None:
        """Forget the sequence (and encoding) so the sender assigns a fresh one."""
        self.base_sequence = -1
        self.encoded = None

    # -- completion ----------------------------------------------------------------

    def complete(self, base_offset: int, log_append_time: int = -1) -> None:
        """Mark every record of the batch delivered at ``base_offset`` onwards."""
        if self.completed:
            return
        self.base_offset = base_offset
        self.log_append_time = log_append_time
        self._finish()

    def fail(self, error: BaseException) -> None:
        """Mark every record of the batch failed with ``error``."""
        if self.completed:
            return
        self.error = error
        self._finish()

    def _finish(self) -> None:
        self.completed = True
        if self._event is not None:
            self._event.set()
        if self.thread_event is not None:
            self.thread_event.set()
        if self._callbacks is not None:
            for callback in self._callbacks:
                callback(self)
            self._callbacks = None

    def add_done_callback(self, callback: Callable[[ProducerBatch], Any]) -> None:
        """Call ``callback(batch)`` when the batch completes (at once if it has)."""
        if self.completed:
            callback(self)
        elif self._callbacks is None:
            self._callbacks = [callback]
        else:
            self._callbacks.append(callback)

    async def wait(self) -> None:
        """Return once the batch has completed, successfully or not."""
        if not self.completed:
            if self._event is None:
                self._event = trio.Event()
            await self._event.wait()

    def metadata_for(self, index: int) -> RecordMetadata:
        """The RecordMetadata of record ``index``; raises the batch's error if it failed."""
        if self.error is not None:
            raise self.error
        if not self.completed:
            raise KafkaError("the record has not been delivered yet")
        if self.log_append_time >= 0:
            timestamp = self.log_append_time
        elif self.timestamps is not None:
            timestamp = self.timestamps[index]
        else:
            timestamp = self.created_ms
        offset = self.base_offset + index if self.base_offset >= 0 else -1
        return RecordMetadata(self.topic, self.partition, offset, timestamp)


class BufferPool:
    """Bytearrays that held delivered batches, kept to encode later batches into: a fresh
    allocation the size of a batch costs a page fault per 4 KiB on every batch."""

    __slots__ = ("size", "limit", "free")

    # the encoder reserves room for the widest encoding of 1024 records at a time
    HEADROOM = 64 * 1024

    def __init__(self, batch_size: int, limit: int) -> None:
        self.size = batch_size + self.HEADROOM
        self.limit = limit
        self.free: list[bytearray] = []

    def take(self, estimate: int) -> bytearray:
        """A kept buffer, or a new one: full-sized when it will be kept, else with room for a
        batch of about ``estimate`` bytes."""
        if self.free:
            return self.free.pop()
        if self.limit > 0:
            return bytearray(self.size)
        return bytearray(min(estimate, self.size - self.HEADROOM) + self.HEADROOM)

    def give(self, buf: bytearray) -> None:
        """Keep ``buf`` for a later batch (unless it is too small or enough are kept)."""
        if len(buf) >= self.size and len(self.free) < self.limit:
            self.free.append(buf)


class RecordFuture:
    """The delivery result of one record: ``await future`` returns its RecordMetadata or
    raises the error that failed its batch. ``done()``, ``result()``, ``exception()`` and
    ``add_done_callback()`` work without awaiting.

    Made by :meth:`Accumulator.append`, which sets ``batch`` (the record's
    :class:`ProducerBatch`) and ``index`` (its position there) right after creating it.
    """

    __slots__ = ("batch", "index")

    batch: ProducerBatch
    index: int

    def __repr__(self) -> str:
        state = "pending" if not self.batch.completed else (
            "failed" if self.batch.error is not None else "delivered"
        )
        return f"<RecordFuture {self.batch.topic}-{self.batch.partition}#{self.index} {state}>"

    def done(self) -> bool:
        """True once the record was delivered or failed."""
        return self.batch.completed

    def result(self) -> RecordMetadata:
        """The RecordMetadata; raises the delivery error, or KafkaError if not done yet."""
        return self.batch.metadata_for(self.index)

    def exception(self) -> BaseException | None:
        """The delivery error, or None (also None while pending)."""
        return self.batch.error

    def add_done_callback(self, callback: Callable[[RecordFuture], Any]) -> None:
        """Call ``callback(future)`` once the record is delivered or failed."""
        self.batch.add_done_callback(lambda _batch: callback(self))

    def get(self, timeout: float | None = None) -> RecordMetadata:
        """Block the calling thread until delivery (sync producer only; ``timeout`` in
        seconds, then KafkaTimeoutError) and return the RecordMetadata."""
        batch = self.batch
        if not batch.completed:
            event = batch.thread_event
            if event is None:
                raise IllegalStateError("get() blocks a thread: await the future instead")
            if not event.wait(timeout):
                raise KafkaTimeoutError(f"record not delivered within {timeout} s")
        return batch.metadata_for(self.index)

    async def wait(self) -> RecordMetadata:
        """Wait for delivery and return the RecordMetadata (raises the delivery error)."""
        await self.batch.wait()
        return self.batch.metadata_for(self.index)

    def __await__(self) -> Generator[Any, None, RecordMetadata]:
        return self.wait().__await__()


class PartitionState:
    """One partition's batches and idempotence sequence."""

    __slots__ = ("topic", "partition", "open", "ready", "inflight", "next_sequence")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.open: ProducerBatch | None = None
        self.ready: deque[ProducerBatch] = deque()
        self.inflight: deque[ProducerBatch] = deque()
        self.next_sequence = 0

    def __repr__(self) -> str:
        return f"<PartitionState {self.topic}-{self.partition}>"

    def has_retry(self) -> bool:
        """True when a batch that was sent before waits to be sent again."""
        return bool(self.ready) and self.ready[0].base_sequence >= 0

    def requeue(self, batch: ProducerBatch) -> None:
        """Put a sent batch back among the ready ones, ordered by sequence, before every batch
        that was never sent."""
        ready = self.ready
        index = 0
        seq = batch.base_sequence
        for index, other in enumerate(ready):  # noqa: B007 - the index is used after the loop
            if other.base_sequence < 0 or (seq >= 0 and other.base_sequence > seq):
                break
        else:
            index = len(ready)
        ready.insert(index, batch)

    def take_sequence(self, count: int) -> int:
        """Reserve ``count`` sequence numbers and return the first (they wrap like Kafka's)."""
        first = self.next_sequence
        self.next_sequence = (first + count) & INT32_MAX
        return first

    def batches(self) -> list[ProducerBatch]:
        """Every batch not yet completed: in flight, ready, then open."""
        out = list(self.inflight) + list(self.ready)
        if self.open is not None:
            out.append(self.open)
        return out


class TopicState:
    """A topic's partitions as the accumulator knows them, and the sticky choice."""

    __slots__ = ("name", "parts", "count", "available", "sticky")

    def __init__(self, name: str, count: int) -> None:
        self.name = name
        self.parts: list[PartitionState] = [PartitionState(name, p) for p in range(count)]
        self.count = count
        self.available: list[int] = list(range(count))
        self.sticky: PartitionState = self.parts[random.randrange(count)]

    def resize(self, count: int, available: list[int]) -> None:
        """Follow the topic's partition count (it only grows) and which partitions have a
        leader."""
        if count > self.count:
            self.parts.extend(PartitionState(self.name, p) for p in range(self.count, count))
            self.count = count
        self.available = [p for p in available if p < self.count] or list(range(self.count))
        if self.sticky.partition not in self.available:
            self.next_sticky()

    def next_sticky(self) -> None:
        """Move keyless records to another partition that has a leader."""
        choices = self.available
        if len(choices) > 1:
            current = self.sticky.partition
            pick = current
            while pick == current:
                pick = random.choice(choices)
        else:
            pick = choices[0]
        self.sticky = self.parts[pick]


class Accumulator:
    """Batches by partition, bounded by ``buffer_memory`` bytes of buffered records."""

    def __init__(
        self,
        *,
        batch_size: int,
        buffer_memory: int,
        delivery_timeout: float,
        partitioner: Partitioner | None = None,
        max_record_size: int = 2**31 - 1,
        refuse: Callable[[str], None] | None = None,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.batch_size = batch_size
        self.buffer_memory = buffer_memory
        # appends are refused once buffered bytes reach this: buffer_memory, or -1 when closed
        self.limit = buffer_memory
        self.max_record_size = max_record_size
        self.refuse: Callable[[str], None] = refuse if refuse is not None else self._refuse
        self.delivery_timeout = delivery_timeout
        self.partitioner = partitioner
        self.clock = clock
        self.topics: dict[str, TopicState] = {}
        self.buffered = 0
        # as many spare buffers as batches fit in buffer_memory, at most 8
        self.pool = BufferPool(batch_size, max(0, min(8, buffer_memory // batch_size - 1)))
        # partitions that hold an open or ready batch, for the sender to visit
        self.dirty: set[PartitionState] = set()
        # re-entrant: delivery callbacks run under it and may append again
        self.lock = threading.RLock()
        # called (by the appending thread) when a batch is created or sealed
        self.on_batch: Callable[[], None] | None = None
        # batches get a threading.Event for users who wait from another thread
        self.thread_events = False

    def _refuse(self, topic: str) -> None:
        if topic not in self.topics:
            raise KeyError(f"topic {topic!r} was not added to the accumulator")
        raise trio.WouldBlock("buffer_memory is full" if self.limit >= 0 else "appends stopped")

    def add_topic(self, topic: str, count: int, available: list[int] | None = None) -> TopicState:
        """Start accepting records for ``topic`` with ``count`` partitions."""
        state = self.topics.get(topic)
        if state is None:
            state = self.topics[topic] = TopicState(topic, count)
        state.resize(count, available if available is not None else list(range(count)))
        return state

    def full(self) -> bool:
        """True when no new batch fits in ``buffer_memory``: appends that need one must wait."""
        return self.buffered > 0 and self.buffered + self.batch_size > self.limit

    def stop_accepting(self) -> None:
        """Refuse every further append (through ``refuse``): the producer is closing."""
        self.limit = -1

    def append(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp: int | None = None,
    ) -> RecordFuture:
        """Add one record and return its future.

        Calls ``refuse(topic)`` — which must raise — when the topic is not added yet, or a
        new batch is needed but ``buffer_memory`` has no room for it, or appends were
        stopped. ValueError for a partition the topic lacks, MessageTooLargeError for a
        record above ``max_record_size``, TypeError for a key or value that is not
        bytes-like.
        """
        try:
            state = self.topics[topic]  # a subscript costs less than a call to get()
        except KeyError:
            state = None
        if state is None:
            self.refuse(topic)
        if type(value) is bytes:
            size = len(value) + RECORD_OVERHEAD
        elif value is None:
            size = RECORD_OVERHEAD
        else:
            value = _as_bytes(value, "value")
            size = len(value) + RECORD_OVERHEAD
        if partition is None:
            if key is None:
                part = state.sticky
            else:
                if type(key) is not bytes:
                    key = _as_bytes(key, "key")
                if self.partitioner is None:
                    part = state.parts[(murmur2(key) & 0x7FFFFFFF) % state.count]
                else:
                    part = state.parts[self._custom_partition(state, key)]
        elif 0 <= partition < state.count:
            part = state.parts[partition]
        else:
            raise ValueError(f"topic {topic!r} has no partition {partition}")
        if size > self.max_record_size:
            self._too_large(size)
        batch = part.open
        if batch is None:
            batch = self._open_batch(part, topic)
        values = batch.values
        index = len(values)
        if key is not None or headers is not None or timestamp is not None or batch.columns:
            size += self._add_columns(batch, index, key, headers, timestamp)
        values.append(value)
        size += batch.size
        batch.size = size
        if size >= self.batch_size:
            self.seal(part)
            if self.on_batch is not None:
                self.on_batch()
        # built without an __init__, which would cost a Python frame per record
        future = RecordFuture()
        future.batch = batch
        future.index = index
        return future

    def _too_large(self, size: int) -> None:
        raise MessageTooLargeError(
            f"a record of about {size} bytes exceeds the largest allowed ({self.max_record_size})"
        )

    def _custom_partition(self, state: TopicState, key: bytes) -> int:
        assert self.partitioner is not None
        chosen = self.partitioner(key, list(range(state.count)), list(state.available))
        if not 0 <= chosen < state.count:
            raise ValueError(f"partitioner chose partition {chosen} of {state.count}")
        return chosen

    def _open_batch(self, part: PartitionState, topic: str) -> ProducerBatch:
        # memory is reserved a batch at a time, so appends to an open batch need no check
        if self.limit < 0 or (self.buffered > 0 and self.buffered + self.batch_size > self.limit):
            self.refuse(topic)
        now = self.clock()
        batch = part.open = ProducerBatch(
            part.topic, part.partition, now, now + self.delivery_timeout
        )
        batch.reserved = self.batch_size
        self.buffered += self.batch_size
        if self.thread_events:
            batch.thread_event = threading.Event()
        self.dirty.add(part)
        if self.on_batch is not None:
            self.on_batch()
        return batch

    @staticmethod
    def _add_columns(
        batch: ProducerBatch,
        index: int,
        key: bytes | None,
        headers: Headers | None,
        timestamp: int | None,
    ) -> int:
        """Record the key, headers and timestamp columns (made on first use); their size.

        Checks everything before changing anything, so a bad argument leaves the batch as
        it was."""
        size = len(key) if key is not None else 0
        if headers:
            for name, value in headers:
                if type(name) is not str or not (value is None or isinstance(value, bytes)):
                    raise TypeError(
                        f"headers must be (str, bytes | None) pairs, got ({name!r}, {value!r})"
                    )
                size += len(name) + (len(value) if value is not None else 0) + 4
        if timestamp is not None and type(timestamp) is not int:
            raise TypeError(f"timestamp must be an int (ms), got {type(timestamp).__name__}")
        batch.columns = True
        if key is not None or batch.keys is not None:
            if batch.keys is None:
                batch.keys = [None] * index
            batch.keys.append(key)
        if headers is not None or batch.headers is not None:
            if batch.headers is None:
                batch.headers = [None] * index
            batch.headers.append(headers)
        if timestamp is not None or batch.timestamps is not None:
            if batch.timestamps is None:
                batch.timestamps = [batch.created_ms] * index
            batch.timestamps.append(batch.created_ms if timestamp is None else timestamp)
        return size

    def seal(self, part: PartitionState) -> None:
        """Close the partition's open batch to new records and queue it for sending."""
        batch = part.open
        if batch is None:
            return
        part.open = None
        part.ready.append(batch)
        # the reservation becomes the batch's real size (one record may overshoot)
        self.buffered += batch.size - batch.reserved
        batch.reserved = batch.size
        state = self.topics[part.topic]
        if state.sticky is part:
            state.next_sticky()

    def seal_expired(self, linger: float, now: float) -> float | None:
        """Seal every open batch older than ``linger`` seconds; return when the next open
        batch will be (a clock time), or None when no batch is open."""
        soonest: float | None = None
        for part in self.dirty:
            batch = part.open
            if batch is None:
                continue
            due = batch.created + linger
            if due <= now:
                self.seal(part)
            elif soonest is None or due < soonest:
                soonest = due
        return soonest

    def seal_all(self) -> list[ProducerBatch]:
        """Seal every open batch (flush/close); return every batch not yet completed."""
        out: list[ProducerBatch] = []
        for part in list(self.dirty):
            self.seal(part)
        for state in self.topics.values():
            for part in state.parts:
                out.extend(part.batches())
        return out

    def release(self, batch: ProducerBatch) -> None:
        """Return a finished batch's memory to the buffer."""
        self.buffered -= batch.reserved
        batch.reserved = 0

    def incomplete(self) -> int:
        """Batches not completed yet (open, ready or in flight)."""
        return sum(
            len(part.batches()) for state in self.topics.values() for part in state.parts
        )
