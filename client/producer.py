"""The async producer: buffered, batched, idempotent sends to partition leaders.

``send_nowait`` appends a record to its partition's open batch in the
:class:`~client.accumulator.Accumulator` and returns a
:class:`~client.accumulator.RecordFuture`; ``await send(...)`` does the same but first waits
for metadata of a new topic or for buffer space (``buffer_memory``, at most ``max_block_ms``).
A sender task seals batches that are full or older than ``linger_ms``, groups them by
partition leader into Produce requests (at most ``max_request_size`` bytes, one batch per
partition per request) and pipelines them, up to ``max_in_flight_requests_per_connection``.

Idempotence (on by default, as in the Java client): the producer gets a producer id and
epoch from InitProducerId, numbers each partition's batches with consecutive sequences
when they are first sent, keeps at most five batches per partition in flight, and retries
in sequence order: a batch that must be resent goes back ahead of every batch that was
never sent, and while it waits nothing else of that partition is sent. A broker answering
OUT_OF_ORDER_SEQUENCE_NUMBER because an earlier batch is being retried gets that batch
again in order; a gap the producer cannot explain (UNKNOWN_PRODUCER_ID, or a batch whose
outcome is unknown failing for good) bumps the epoch once nothing is in flight and numbers
every unacknowledged batch afresh from zero. A duplicate is a success.

Every retriable failure (leader moved, connection lost, broker restarting, timeouts) is
retried with exponential backoff and full jitter until ``delivery_timeout_ms`` after the
batch was created; only then does the future fail, with the last error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import trio

from client.accumulator import (
    Accumulator,
    Headers,
    PartitionState,
    ProducerBatch,
    RecordFuture,
    RecordMetadata,
)
from client.errors import (
    BufferFullError,
    ClientClosedError,
    KafkaError,
    KafkaTimeoutError,
    UnsupportedVersionByBrokerError,
    error_for,
)
from client.network import Backoff, Cluster, TaskGroup, retry_until
from client.options import PRODUCER_OPTIONS, validate_options
from client.protocol import ApiKey, ErrorCode
from client.records import Compression

__all__ = ["Producer", "RecordFuture", "RecordMetadata"]

log = logging.getLogger(__name__)

MAX_IDEMPOTENT_IN_FLIGHT = 5
MIN_PRODUCE_VERSION = 3  # record batch v2
_RESEQUENCE_CODES = frozenset({
    ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
    ErrorCode.UNKNOWN_PRODUCER_ID,
    ErrorCode.INVALID_PRODUCER_EPOCH,
    ErrorCode.PRODUCER_FENCED,
})


class Producer:
    """Sends records to Kafka topics; async, trio-native.

    ::

        async with Producer("localhost:9092", linger_ms=5) as producer:
            future = await producer.send("events", b"payload", key=b"user-1")
            metadata = await future             # RecordMetadata(topic, partition, offset, ts)
            await producer.send_and_wait("events", b"another")
            for i in range(100_000):
                producer.send_nowait("events", b"x" * 100)   # no await per record
            await producer.flush()

    Options are keyword arguments named as in kafka-python / aiokafka; see
    ``client.options.PRODUCER_OPTIONS`` for the list with defaults. Unknown names raise
    TypeError. ``nursery``: run background tasks there instead of in tasks the producer
    owns (both are ended by :meth:`close`).
    """

    def __init__(
        self,
        bootstrap_servers: str | Iterable[str] = "localhost:9092",
        *,
        nursery: trio.Nursery | None = None,
        **options: Any,
    ) -> None:
        opts = validate_options("Producer", PRODUCER_OPTIONS, options)
        self._idempotence_explicit = opts["enable_idempotence"] is not None
        self._check_combinations(opts)
        self.options = opts
        self._acks: int = opts["acks"]
        self._compression: Compression = opts["compression_type"]
        self._linger = opts["linger_ms"] / 1000
        self._max_block = opts["max_block_ms"] / 1000
        self._max_request_size: int = opts["max_request_size"]
        self._request_timeout_ms: int = opts["request_timeout_ms"]
        self._retries: int | None = opts["retries"]
        self._key_serializer: Callable[[Any], bytes] | None = opts["key_serializer"]
        self._value_serializer: Callable[[Any], bytes] | None = opts["value_serializer"]
        self._idempotent: bool = opts["enable_idempotence"]
        max_in_flight = opts["max_in_flight_requests_per_connection"]
        self._partition_in_flight = (
            min(max_in_flight, MAX_IDEMPOTENT_IN_FLIGHT) if self._idempotent else max_in_flight
        )
        self._backoff = Backoff(opts["retry_backoff_ms"], opts["retry_backoff_max_ms"])
        self._cluster = Cluster(
            bootstrap_servers if isinstance(bootstrap_servers, str) else list(bootstrap_servers),
            client_id=opts["client_id"],
            request_timeout_ms=opts["request_timeout_ms"],
            connect_timeout_ms=opts["socket_connection_setup_timeout_ms"],
            retry_backoff_ms=opts["retry_backoff_ms"],
            retry_backoff_max_ms=opts["retry_backoff_max_ms"],
            metadata_max_age_ms=opts["metadata_max_age_ms"],
            max_in_flight_requests_per_connection=max_in_flight,
            allow_auto_topic_creation=opts["allow_auto_create_topics"],
            nursery=nursery,
        )
        self._acc = Accumulator(
            batch_size=opts["batch_size"],
            buffer_memory=opts["buffer_memory"],
            delivery_timeout=opts["delivery_timeout_ms"] / 1000,
            partitioner=opts["partitioner"],
            # the batch header and the request's own fields need room too
            max_record_size=self._max_request_size - 200,
            refuse=self._refuse,
        )
        self._acc.on_batch = self._wake
        self._plain = self._key_serializer is None and self._value_serializer is None
        if self._plain:
            self.send_nowait = self._acc.append  # type: ignore[method-assign]
        self._tasks = TaskGroup(nursery)
        self._wakeup = trio.Event()
        self._space = trio.Event()
        self._space_listeners: list[Callable[[], None]] = []
        self._metadata_wanted = trio.Event()
        self._producer_id = -1
        self._producer_epoch = -1
        self._reset_needed = False
        self._resetting = False
        self._started = False
        self._closing = False
        self._closed = False
        self._batch_events = 0
        self._batch_events_seen = 0
        self._fatal: KafkaError | None = None

    @staticmethod
    def _check_combinations(opts: dict[str, Any]) -> None:
        if opts["retry_backoff_max_ms"] < opts["retry_backoff_ms"]:
            opts["retry_backoff_max_ms"] = opts["retry_backoff_ms"]
        needed = opts["linger_ms"] + opts["request_timeout_ms"]
        if opts["delivery_timeout_ms"] < needed:
            raise ValueError(
                f"Producer option delivery_timeout_ms={opts['delivery_timeout_ms']} must be at "
                f"least linger_ms + request_timeout_ms = {needed}"
            )
        idempotent = opts["enable_idempotence"]
        conflicts = []
        if opts["acks"] != -1:
            conflicts.append("acks must be 'all'")
        if opts["max_in_flight_requests_per_connection"] > MAX_IDEMPOTENT_IN_FLIGHT:
            conflicts.append(
                f"max_in_flight_requests_per_connection must be at most {MAX_IDEMPOTENT_IN_FLIGHT}"
            )
        if opts["retries"] == 0:
            conflicts.append("retries must not be 0")
        if idempotent and conflicts:
            raise ValueError(
                "Producer option enable_idempotence=True needs: " + "; ".join(conflicts)
            )
        if idempotent is None:
            opts["enable_idempotence"] = not conflicts

    # ------------------------------------------------------------------ lifecycle

    @property
    def cluster(self) -> Cluster:
        """The connection layer this producer sends through."""
        return self._cluster

    async def start(self) -> None:
        """Connect, load metadata and (when idempotent) get a producer id."""
        if self._started:
            return
        self._started = True
        try:
            await self._cluster.start()
            if self._idempotent:
                try:
                    await self._init_producer_id()
                except UnsupportedVersionByBrokerError:
                    if self._idempotence_explicit:
                        raise
                    # a Kafka-compatible broker without InitProducerId: plain producing
                    log.warning("broker has no InitProducerId; idempotence turned off")
                    self._idempotent = False
                    self.options["enable_idempotence"] = False
                    self._partition_in_flight = self.options[
                        "max_in_flight_requests_per_connection"
                    ]
        except BaseException:
            self._closing = self._closed = True
            self._acc.stop_accepting()
            with trio.CancelScope(shield=True):
                await self._cluster.aclose()
            raise
        self._tasks.start_soon(self._run_sender, name="producer-sender")
        self._tasks.start_soon(self._run_metadata, name="producer-metadata")

    async def __aenter__(self) -> Producer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, timeout: float | None = None) -> None:
        """Deliver what is buffered (waiting at most ``timeout`` seconds, default: until every
        batch is delivered or has reached its delivery timeout), then stop and disconnect.
        Records still undelivered fail with ClientClosedError."""
        if self._closed:
            return
        self._closing = True
        self._acc.stop_accepting()
        try:
            if self._started:
                try:
                    await self.flush(timeout)
                except KafkaTimeoutError:
                    pass
        finally:
            self._closed = True
            with self._acc.lock:
                leftover = self._acc.seal_all()
            for batch in leftover:
                self._finish_failed(batch, ClientClosedError("the producer was closed"))
            with trio.CancelScope(shield=True):
                await self._tasks.aclose()
                await self._cluster.aclose()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` started."""
        return self._closing

    # ------------------------------------------------------------------ sending

    def send_nowait(
        self,
        topic: str,
        value: Any,
        key: Any = None,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp: int | None = None,
    ) -> RecordFuture:
        """Buffer one record and return its future, without waiting.

        Raises ``trio.WouldBlock`` when the buffer is full or the topic's metadata is not
        loaded yet (``await send(...)`` waits in both cases), ClientClosedError after close,
        ValueError for a partition the topic does not have, TypeError for a value or key
        that is not bytes (unless a serializer is set), MessageTooLargeError for a record
        above ``max_request_size``.

        (Without serializers, instances replace this method by the accumulator's append,
        which does exactly the same with one Python call less per record.)
        """
        if self._value_serializer is not None:
            value = self._value_serializer(value)
        if self._key_serializer is not None and key is not None:
            key = self._key_serializer(key)
        return self._acc.append(topic, value, key, headers, partition, timestamp)

    def _refuse(self, topic: str) -> None:
        """Why an append cannot happen now, raised (the accumulator's ``refuse`` hook)."""
        if self._closing:
            raise ClientClosedError("the producer is closed")
        if self._fatal is not None:
            raise self._fatal
        if not self._started:
            raise ClientClosedError("the producer is not started: use start() or async with")
        if topic not in self._acc.topics:
            raise trio.WouldBlock(f"metadata for topic {topic!r} is not loaded yet")
        raise trio.WouldBlock("the producer's buffer_memory is full")

    async def send(
        self,
        topic: str,
        value: Any,
        key: Any = None,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp: int | None = None,
    ) -> RecordFuture:
        """Buffer one record and return its future (``await`` it for the RecordMetadata).

        Waits only when it must: for the metadata of a topic seen for the first time, or for
        buffer space, at most ``max_block_ms`` (then BufferFullError / KafkaTimeoutError).
        """
        try:
            if self._plain:
                # not self.send_nowait: a method looked up in the instance's own dict costs
                # a generic attribute lookup per record
                future = self._acc.append(topic, value, key, headers, partition, timestamp)
            else:
                future = Producer.send_nowait(self, topic, value, key, headers, partition, timestamp)
        except trio.WouldBlock:
            future = await self._send_blocking(topic, value, key, headers, partition, timestamp)
        if self._batch_events != self._batch_events_seen:
            # a batch was opened or sealed: let the sender run even if the caller never waits
            self._batch_events_seen = self._batch_events
            await trio.lowlevel.checkpoint()
        return future

    async def _send_blocking(
        self,
        topic: str,
        value: Any,
        key: Any,
        headers: Headers | None,
        partition: int | None,
        timestamp: int | None,
    ) -> RecordFuture:
        deadline = trio.current_time() + self._max_block
        while True:
            try:
                return self.send_nowait(topic, value, key, headers, partition, timestamp)
            except trio.WouldBlock:
                pass
            remaining = deadline - trio.current_time()
            if topic not in self._acc.topics:
                await self.wait_for_topic(topic, max(remaining, 0.001))
                continue
            space = self._space
            with trio.move_on_after(remaining) as waiting:
                await space.wait()
            if waiting.cancelled_caught:
                raise BufferFullError(
                    f"buffer_memory stayed full for max_block_ms={self.options['max_block_ms']}"
                )

    async def send_and_wait(
        self,
        topic: str,
        value: Any,
        key: Any = None,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp: int | None = None,
    ) -> RecordMetadata:
        """Send one record and wait until it is delivered; returns its RecordMetadata."""
        future = await self.send(topic, value, key, headers, partition, timestamp)
        self._wake()
        return await future

    async def wait_for_topic(self, topic: str, timeout: float | None = None) -> list[int]:
        """Load ``topic``'s metadata so ``send_nowait`` accepts it; returns its partitions."""
        if self._closing:
            raise ClientClosedError("the producer is closed")
        if not self._started:
            raise ClientClosedError("the producer is not started: use start() or async with")
        info = await self._cluster.topic(topic, self._max_block if timeout is None else timeout)
        available = [p for p, part in info.partitions.items() if part.leader >= 0]
        with self._acc.lock:
            self._acc.add_topic(topic, max(info.partitions) + 1, available)
        return sorted(info.partitions)

    async def partitions_for(self, topic: str) -> list[int]:
        """The partition indexes of ``topic`` (kafka-python's name for it)."""
        return await self.wait_for_topic(topic)

    async def flush(self, timeout: float | None = None) -> None:
        """Send every buffered record now and wait until each is delivered or failed.

        KafkaTimeoutError if that takes longer than ``timeout`` seconds. Delivery errors are
        reported by each record's future, not raised here.
        """
        with self._acc.lock:
            batches = self._acc.seal_all()
        self._wake()
        if not batches:
            return
        with trio.move_on_after(float("inf") if timeout is None else timeout) as waiting:
            for batch in batches:
                await batch.wait()
        if waiting.cancelled_caught:
            raise KafkaTimeoutError(f"flush did not finish within {timeout} s")

    # ------------------------------------------------------------------ sender

    def _wake(self) -> None:
        self._batch_events += 1
        self._wakeup.set()

    async def _run_sender(self) -> None:
        while True:
            self._wakeup = trio.Event()
            now = trio.current_time()
            with self._acc.lock:
                next_linger = self._acc.seal_expired(self._linger, now)
                next_due = self._expire(now)
                sent, next_retry = self._drain(now)
            if sent:
                await trio.lowlevel.checkpoint()
                continue
            wake_at = now + 1.0
            for when in (next_linger, next_due, next_retry):
                if when is not None and when < wake_at:
                    wake_at = when
            with trio.move_on_at(wake_at):
                await self._wakeup.wait()

    def _expire(self, now: float) -> float | None:
        """Fail ready batches past their delivery deadline; return the next deadline."""
        soonest: float | None = None
        for part in self._acc.dirty:
            ready = part.ready
            while ready and ready[0].deadline <= now:
                batch = ready.popleft()
                self._fail_batch(part, batch, self._timeout_error(batch))
            for batch in ready:
                if soonest is None or batch.deadline < soonest:
                    soonest = batch.deadline
        return soonest

    def _drain(self, now: float) -> tuple[bool, float | None]:
        """Send what may be sent; return (anything sent, when a backed-off retry is due)."""
        if self._closed:
            # the sender can still be scheduled once after close() failed the leftovers,
            # and the task group no longer accepts tasks
            return False, None
        acc = self._acc
        if self._reset_needed:
            if not self._resetting and not any(
                part.inflight for state in acc.topics.values() for part in state.parts
            ):
                self._resetting = True
                self._tasks.start_soon(self._reset_producer, name="producer-reset")
            return False, None
        if self._idempotent and self._producer_id < 0:
            return False, None
        metadata = self._cluster.metadata
        by_node: dict[int, list[PartitionState]] = {}
        next_retry: float | None = None
        done: list[PartitionState] = []
        for part in acc.dirty:
            if not part.ready:
                if part.open is None:
                    done.append(part)
                continue
            batch = part.ready[0]
            if batch.retry_at > now:
                if next_retry is None or batch.retry_at < next_retry:
                    next_retry = batch.retry_at
                continue
            if len(part.inflight) >= self._partition_in_flight:
                continue
            if self._idempotent and batch.base_sequence >= 0 and part.inflight:
                continue  # a retry goes alone, after everything sent before it is resolved
            leader = metadata.leader_for(part.topic, part.partition)
            if leader is None:
                self._want_metadata()
                continue
            by_node.setdefault(leader, []).append(part)
        for part in done:
            acc.dirty.discard(part)
        for node_id, parts in by_node.items():
            self._send_to(node_id, parts)
        return bool(by_node), next_retry

    def _send_to(self, node_id: int, parts: list[PartitionState]) -> None:
        batches: list[ProducerBatch] = []
        size = 0
        for part in parts:
            batch = part.ready[0]
            if batches and size + batch.size > self._max_request_size:
                continue  # the next request takes it
            part.ready.popleft()
            if self._idempotent and batch.base_sequence < 0:
                batch.base_sequence = part.take_sequence(batch.record_count)
            batch.attempts += 1
            part.inflight.append(batch)
            batches.append(batch)
            size += batch.size
        self._tasks.start_soon(self._produce, node_id, batches, name="producer-request")

    async def _produce(self, node_id: int, batches: list[ProducerBatch]) -> None:
        topics: dict[str, list[dict]] = {}
        encoded: list[ProducerBatch] = []
        for batch in batches:
            try:
                records = batch.encode(
                    self._compression, self._producer_id, self._producer_epoch, self._acc.pool
                )
            except (ValueError, TypeError) as exc:
                # a record the encoder refuses (e.g. a header that is not bytes) fails its
                # own batch only; its sequence numbers were taken, so renumber from here
                if self._idempotent:
                    self._reset_needed = True
                self._on_error(batch, exc, encode_failed=True)
                continue
            encoded.append(batch)
            topics.setdefault(batch.topic, []).append(
                {"index": batch.partition, "records": records}
            )
        batches = encoded
        if not batches:
            self._wake()
            return
        body = {
            "transactional_id": None,
            "acks": self._acks,
            "timeout_ms": self._request_timeout_ms,
            "topic_data": [
                {"name": name, "partition_data": data} for name, data in topics.items()
            ],
        }
        try:
            version = await self._cluster.api_version(node_id, ApiKey.PRODUCE)
            if version < MIN_PRODUCE_VERSION:
                raise UnsupportedVersionByBrokerError(
                    f"broker {node_id} supports Produce only up to v{version}; v3+ is needed"
                )
            response = await self._cluster.request(
                node_id, ApiKey.PRODUCE, body, version=version, expect_response=self._acks != 0
            )
        except KafkaError as exc:
            for batch in batches:
                self._on_error(batch, exc)
        else:
            self._on_response(batches, response)
        self._wake()

    def _on_response(self, batches: list[ProducerBatch], response: dict) -> None:
        if self._acks == 0:
            for batch in batches:
                self._finish_ok(batch, -1, -1)
            return
        results: dict[tuple[str, int], dict] = {}
        for topic in response["responses"]:
            for part in topic["partition_responses"]:
                results[(topic["name"], part["index"])] = part
        for batch in batches:
            result = results.get((batch.topic, batch.partition))
            if result is None:
                self._on_error(batch, error_for(
                    ErrorCode.NETWORK_EXCEPTION, f"no result for {batch.topic}-{batch.partition}"
                ))
                continue
            code = result["error_code"]
            if code == 0:
                self._finish_ok(batch, result["base_offset"], result.get("log_append_time_ms", -1))
            elif code == ErrorCode.DUPLICATE_SEQUENCE_NUMBER and self._idempotent:
                self._finish_ok(batch, -1, -1)
            else:
                self._on_error(batch, error_for(code, result.get("error_message")))

    def _timeout_error(self, batch: ProducerBatch) -> KafkaTimeoutError:
        text = (
            f"{batch.topic}-{batch.partition}: not delivered within delivery_timeout_ms="
            f"{self.options['delivery_timeout_ms']}"
        )
        if batch.last_error is not None:
            text += f"; last error: {batch.last_error}"
        return KafkaTimeoutError(text)

    def _partition_state(self, batch: ProducerBatch) -> PartitionState:
        return self._acc.topics[batch.topic].parts[batch.partition]

    def _finish_ok(self, batch: ProducerBatch, base_offset: int, log_append_time: int) -> None:
        part = self._partition_state(batch)
        try:
            part.inflight.remove(batch)
        except ValueError:
            pass
        with self._acc.lock:  # buffered bytes are shared with a sync caller's thread
            self._acc.release(batch)
        batch.give_buffer(self._acc.pool)
        batch.complete(base_offset, log_append_time)
        self._space_freed()

    def _finish_failed(self, batch: ProducerBatch, error: BaseException) -> None:
        with self._acc.lock:  # buffered bytes are shared with a sync caller's thread
            self._acc.release(batch)
        batch.fail(error)
        self._space_freed()

    def _fail_batch(self, part: PartitionState, batch: ProducerBatch, error: KafkaError) -> None:
        if self._idempotent and batch.base_sequence >= 0:
            # the broker may or may not have it: later sequences cannot follow a hole
            self._reset_needed = True
        self._finish_failed(batch, error)

    def _space_freed(self) -> None:
        self._space.set()
        self._space = trio.Event()
        for listener in self._space_listeners:
            listener()

    def _on_error(
        self, batch: ProducerBatch, error: Exception, encode_failed: bool = False
    ) -> None:
        # a sync producer's callers append to the same partitions from their own thread
        with self._acc.lock:
            self._handle_error(batch, error, encode_failed)

    def _handle_error(self, batch: ProducerBatch, error: Exception, encode_failed: bool) -> None:
        part = self._partition_state(batch)
        try:
            part.inflight.remove(batch)
        except ValueError:
            pass
        kafka_error = error if isinstance(error, KafkaError) else None
        retriable = kafka_error is not None and kafka_error.retriable and not encode_failed
        if kafka_error is not None and kafka_error.invalid_metadata:
            self._cluster.request_update()
            self._want_metadata()
        code = kafka_error.error_code if kafka_error is not None else None
        if self._idempotent and code in _RESEQUENCE_CODES:
            retriable = self._sequence_error(part, batch, code)
        now = trio.current_time()
        attempts_left = self._retries is None or batch.attempts <= self._retries
        batch.last_error = error
        if retriable and now < batch.deadline and attempts_left and not self._closed:
            batch.retry_at = now + self._backoff.delay(batch.attempts - 1)
            part.requeue(batch)
            self._acc.dirty.add(part)
            return
        if retriable and now >= batch.deadline:
            error = self._timeout_error(batch)
        if isinstance(error, KafkaError):
            self._fail_batch(part, batch, error)
        else:
            self._finish_failed(batch, error)

    def _sequence_error(self, part: PartitionState, batch: ProducerBatch, code: int) -> bool:
        """Whether a sequence/epoch error is one a resend fixes (and arrange for it)."""
        if code in (ErrorCode.INVALID_PRODUCER_EPOCH, ErrorCode.PRODUCER_FENCED):
            if batch.producer_epoch != self._producer_epoch or self._reset_needed:
                batch.resequence()
                return True
            return False
        earlier = any(
            0 <= other.base_sequence < batch.base_sequence
            for other in list(part.inflight) + list(part.ready)
        )
        if code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER and earlier:
            return True  # the gap is ours: an earlier batch is being resent
        # the broker has no record of what came before: start a new epoch and renumber
        self._reset_needed = True
        return True

    # ------------------------------------------------------------------ producer id

    async def _init_producer_id(self, bump: bool = False) -> None:
        """Get a producer id, or (``bump``) a new epoch of the current one: the broker
        answers InitProducerId v3+ with the same id and epoch + 1, older versions with a
        fresh id; either way every partition's sequences restart at 0."""

        async def attempt() -> dict:
            body: dict[str, Any] = {"transactional_id": None, "transaction_timeout_ms": 60_000}
            if bump and self._producer_id >= 0:
                body["producer_id"] = self._producer_id
                body["producer_epoch"] = self._producer_epoch
            response = await self._cluster.request_any(ApiKey.INIT_PRODUCER_ID, body)
            code = response["error_code"]
            if code in _RESEQUENCE_CODES:
                # the broker will not bump this id (unknown or fenced): ask for a fresh one
                self._producer_id = self._producer_epoch = -1
                error = error_for(code, "InitProducerId")
                error.retriable = True
                raise error
            if code:
                raise error_for(code, "InitProducerId")
            return response

        limit = self.options["delivery_timeout_ms"] if bump else self._request_timeout_ms
        response = await retry_until(
            attempt, deadline=trio.current_time() + limit / 1000, backoff=self._backoff
        )
        self._producer_id = response["producer_id"]
        self._producer_epoch = response["producer_epoch"]
        log.debug("producer id %d epoch %d", self._producer_id, self._producer_epoch)

    async def _reset_producer(self) -> None:
        try:
            await self._init_producer_id(bump=self._producer_id >= 0)
        except KafkaError as exc:
            log.warning("could not renew the producer id: %s", exc)
            self._fatal = exc
            with self._acc.lock:
                self._acc.stop_accepting()
                for batch in self._acc.seal_all():
                    self._finish_failed(batch, exc)
            return
        finally:
            self._resetting = False
        with self._acc.lock:
            for state in self._acc.topics.values():
                for part in state.parts:
                    part.next_sequence = 0
                    for batch in part.ready:
                        batch.resequence()
            self._reset_needed = False
        self._wake()

    # ------------------------------------------------------------------ metadata

    def _want_metadata(self) -> None:
        self._metadata_wanted.set()

    async def _run_metadata(self) -> None:
        attempt = 0
        while True:
            age_limit = self._cluster.metadata_max_age
            with trio.move_on_after(min(age_limit, 60.0) if age_limit > 0 else 60.0):
                await self._metadata_wanted.wait()
            wanted = self._metadata_wanted.is_set()
            self._metadata_wanted = trio.Event()
            if not wanted and not self._cluster.metadata_is_stale():
                continue
            try:
                await self._cluster.refresh_metadata()
            except KafkaError as exc:
                log.debug("metadata refresh failed: %s", exc)
                self._metadata_wanted.set()
                await trio.sleep(self._backoff.delay(attempt))
                attempt += 1
                continue
            attempt = 0
            self._update_topics()
            self._wake()

    def _update_topics(self) -> None:
        metadata = self._cluster.metadata
        with self._acc.lock:
            for name, state in self._acc.topics.items():
                info = metadata.topics.get(name)
                if info is None or not info.partitions:
                    continue
                available = [p for p, part in info.partitions.items() if part.leader >= 0]
                state.resize(max(info.partitions) + 1, available)
