"""The prefetching fetcher: keeps records of the assigned partitions flowing into a buffer.

One background loop (:meth:`Fetcher.run`) decides, whenever something changed, what to send:

* **positions** — partitions without a position get their committed offset (through the group
  coordinator), else a ListOffsets reset by ``auto_offset_reset``; partitions whose position
  comes from an older leader epoch are checked with OffsetForLeaderEpoch and, when the
  leader's log diverged before the position, moved back to where the logs agree;
* **fetches** — at most one Fetch in flight per broker, for every fetchable partition it
  leads, while the buffer holds less than ``fetch_buffer_bytes``. A response's batches are
  located and checked at once (``client.consumer.records``) and appended to the buffer as
  one completed fetch per partition, and the partition's fetch offset moves past them, so
  the next Fetch can go out while the application still works through the previous one.

:meth:`Fetcher.drain` decodes buffered batches as ``poll`` needs them, hands the records
over and advances positions; the buffer therefore holds fetched bytes, not decoded records,
and its bound holds however well the data was compressed. Data that was
fetched for an older ``seq`` of its partition (a seek, reset, pause or reassignment happened
since) is dropped, never returned.

Partition errors are handled as the Java client does: leadership errors refresh metadata and
retry; OFFSET_OUT_OF_RANGE resets by ``auto_offset_reset``; FENCED_LEADER_EPOCH refreshes
metadata, whose newer epoch then triggers validation. Errors the application must see
(authorization, corrupt data, no reset policy) are raised from ``poll``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable

import trio

from client.consumer.config import ConsumerConfig
from client.consumer.errors import LogTruncationError, NoOffsetForPartitionError, RecordDecodeError
from client.consumer.offsets import (
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    ListedOffset,
    leader_epoch_request,
    list_offsets_request,
    parse_leader_epochs,
    parse_list_offsets,
    validate_position,
)
from client.consumer.records import ConsumerRecord, FetchedPartition
from client.consumer.structs import OffsetAndMetadata, TopicPartition
from client.consumer.subscription import PartitionState, SubscriptionState
from client.consumer.wakeup import Signal
from client.errors import (
    KafkaError,
    UnsupportedVersionByBrokerError,
    error_for,
)
from client.network import Cluster, TaskGroup
from client.protocol import ApiKey, ErrorCode
from client.records import RecordsError

__all__ = ["CompletedFetch", "Fetcher", "fetch_request"]

log = logging.getLogger(__name__)

CommittedLookup = Callable[
    [list[TopicPartition]], Awaitable[dict[TopicPartition, OffsetAndMetadata | None]]
]

# Partition errors after which a metadata refresh and a later retry are the cure.
_RETRY_AFTER_METADATA = frozenset({
    ErrorCode.NOT_LEADER_OR_FOLLOWER,
    ErrorCode.LEADER_NOT_AVAILABLE,
    ErrorCode.REPLICA_NOT_AVAILABLE,
    ErrorCode.KAFKA_STORAGE_ERROR,
    ErrorCode.FENCED_LEADER_EPOCH,
    ErrorCode.UNKNOWN_LEADER_EPOCH,
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    ErrorCode.UNKNOWN_TOPIC_ID,
    ErrorCode.INCONSISTENT_TOPIC_ID,
    ErrorCode.OFFSET_NOT_AVAILABLE,
    ErrorCode.NOT_COORDINATOR,
})

_TIMESTAMP_OF = {"earliest": EARLIEST_TIMESTAMP, "latest": LATEST_TIMESTAMP}


class CompletedFetch:
    """One partition's share of one Fetch response, waiting to be returned; ``seq`` is the
    partition's seq when the fetch was sent."""

    __slots__ = ("tp", "seq", "fetched")

    def __init__(self, tp: TopicPartition, seq: int, fetched: FetchedPartition) -> None:
        self.tp = tp
        self.seq = seq
        self.fetched = fetched


def fetch_request(
    partitions: list[tuple[TopicPartition, PartitionState]], config: ConsumerConfig
) -> dict:
    """A session-less Fetch body for ``partitions`` at their fetch offsets."""
    topics: dict[str, list[dict]] = {}
    for tp, state in partitions:
        topics.setdefault(tp.topic, []).append({
            "partition": tp.partition,
            "current_leader_epoch": state.current_leader_epoch,
            "fetch_offset": state.fetch_offset,
            "last_fetched_epoch": state.fetch_epoch,
            "log_start_offset": -1,
            "partition_max_bytes": config.max_partition_fetch_bytes,
        })
    return {
        "replica_id": -1,
        "max_wait_ms": config.fetch_max_wait_ms,
        "min_bytes": config.fetch_min_bytes,
        "max_bytes": config.fetch_max_bytes,
        "isolation_level": 1 if config.read_committed else 0,
        "session_id": 0,
        "session_epoch": -1,
        "topics": [{"topic": t, "partitions": parts} for t, parts in topics.items()],
        "forgotten_topics_data": [],
        "rack_id": config.client_rack or "",
    }


class Fetcher:
    """Fetches for the assigned partitions of ``subscriptions`` (see the module docstring)."""

    def __init__(
        self,
        cluster: Cluster,
        subscriptions: SubscriptionState,
        config: ConsumerConfig,
        tasks: TaskGroup,
        committed_lookup: CommittedLookup | None = None,
    ) -> None:
        self._cluster = cluster
        self._subs = subscriptions
        self._config = config
        self._tasks = tasks
        self._committed_lookup = committed_lookup
        self._buffer: deque[CompletedFetch] = deque()
        self._buffered_bytes = 0
        self._in_flight: set[int] = set()
        self._node_retry_at: dict[int, float] = {}
        self._busy: set[str] = set()
        self._failed: dict[TopicPartition, tuple[int, KafkaError]] = {}
        self._errors: list[KafkaError] = []
        self._backoff = config.retry_backoff_ms / 1000
        self._fetch_timeout = (config.request_timeout_ms + config.fetch_max_wait_ms) / 1000
        self._stopped = False
        self.changed = Signal()
        self.data_ready = Signal()

    # ------------------------------------------------------------------ application side

    @property
    def buffered_bytes(self) -> int:
        """Bytes of fetched batches waiting in the buffer."""
        return self._buffered_bytes

    def has_data(self) -> bool:
        """Whether :meth:`drain` would return something (or raise)."""
        return bool(self._buffer) or bool(self._errors) or self._has_failure()

    def _has_failure(self) -> bool:
        return any(
            (state := self._subs.get(tp)) is not None and state.seq == seq
            for tp, (seq, _) in self._failed.items()
        )

    def raise_errors(self) -> None:
        """Raise an error the application must see, if there is one."""
        if self._errors:
            raise self._errors.pop(0)
        for tp, (seq, exc) in list(self._failed.items()):
            state = self._subs.get(tp)
            if state is None or state.seq != seq:
                del self._failed[tp]
            elif not state.paused:
                raise exc

    def drain(self, max_records: int) -> list[ConsumerRecord]:
        """Up to ``max_records`` buffered records in fetch order; positions move past them.

        Batches are decoded here, as they are needed. A batch that does not decode stops its
        partition: the error is raised by the next :meth:`raise_errors` and repeats until the
        application seeks.
        """
        out: list[ConsumerRecord] = []
        buffer = self._buffer
        drained = False
        while buffer and len(out) < max_records:
            done = buffer[0]
            tp = done.tp
            state = self._subs.get(tp)
            failed = self._failed.get(tp)
            if (
                state is None or state.seq != done.seq or state.paused
                or (failed is not None and failed[0] == state.seq)
            ):
                buffer.popleft()
                self._buffered_bytes -= done.fetched.size
                drained = True
                continue
            fetched = done.fetched
            try:
                out += fetched.take(max_records - len(out))
            except RecordsError as exc:
                self._fail(tp, state, RecordDecodeError(tp, fetched.position, str(exc)))
            if fetched.position > state.position:  # type: ignore[operator]
                state.position = fetched.position
                if fetched.position_epoch >= 0:
                    state.position_epoch = fetched.position_epoch
            if fetched.exhausted:
                buffer.popleft()
                self._buffered_bytes -= fetched.size
                drained = True
        if drained:
            self.changed.fire()
        return out

    def wake(self) -> None:
        """Something the fetch loop depends on changed (assignment, seek, pause, resume)."""
        self.changed.fire()

    # ------------------------------------------------------------------ the loop

    def stop(self) -> None:
        """Send nothing more (the consumer is closing)."""
        self._stopped = True
        self.changed.fire()

    async def run(self) -> None:
        """Plan and send requests until cancelled or stopped (runs as a background task)."""
        while not self._stopped:
            try:
                self._step()
            except Exception as exc:  # a bug must reach the application, not kill the loop
                log.exception("fetcher step failed")
                self._errors.append(KafkaError(f"fetcher failed: {exc!r}"))
                self.data_ready.fire()
            await self.changed.wait(max(self._backoff, 0.05))

    def _step(self) -> None:
        now = trio.current_time()
        subs = self._subs
        if not subs.assigned():
            return
        self._cluster.add_topics({tp.topic for tp in subs.assigned()})
        missing = subs.missing_positions()
        need_committed = [
            tp for tp in missing if subs.state(tp).needs_committed
            and subs.state(tp).retry_at <= now
        ]
        if need_committed and "committed" not in self._busy:
            self._start("committed", self._resolve_committed, need_committed)
        need_reset = [
            tp for tp in missing if subs.state(tp).reset in _TIMESTAMP_OF
            and subs.state(tp).retry_at <= now
        ]
        if need_reset and "reset" not in self._busy:
            self._start("reset", self._reset_positions, need_reset)
        self._note_leader_epochs()
        need_validation = [
            tp for tp in subs.awaiting_validation() if subs.state(tp).retry_at <= now
        ]
        if need_validation and "validate" not in self._busy:
            self._start("validate", self._validate_positions, need_validation)
        self._start_fetches(now)
        if self._cluster.metadata_is_stale() and "metadata" not in self._busy:
            self._start("metadata", self._refresh_metadata)

    def _start(self, kind: str, fn: Callable[..., Awaitable[None]], *args: object) -> None:
        self._busy.add(kind)

        async def job() -> None:
            try:
                await fn(*args)
            except KafkaError as exc:
                if exc.retriable:
                    log.debug("%s: %s; retrying", kind, exc)
                    self._cluster.request_update()
                    await trio.sleep(self._backoff)
                else:
                    self._errors.append(exc)
                    self.data_ready.fire()
            finally:
                self._busy.discard(kind)
                self.changed.fire()

        self._tasks.start_soon(job, name=f"consumer-{kind}")

    def _note_leader_epochs(self) -> None:
        """A partition whose leader epoch went up since its position was set gets validated."""
        topics = self._cluster.metadata.topics
        for tp, state in self._subs.items():
            info = topics.get(tp.topic)
            part = info.partitions.get(tp.partition) if info is not None else None
            if part is None or part.leader_epoch < 0:
                continue
            if part.leader_epoch > state.current_leader_epoch:
                if (
                    state.current_leader_epoch >= 0
                    and state.position is not None
                    and state.position_epoch >= 0
                ):
                    state.awaiting_validation = True
                    state.rewind_fetch()
                state.current_leader_epoch = part.leader_epoch

    def _start_fetches(self, now: float) -> None:
        if self._buffered_bytes >= self._config.fetch_buffer_bytes:
            return
        metadata = self._cluster.metadata
        plan: dict[int, list[tuple[TopicPartition, PartitionState]]] = {}
        for tp, state in self._subs.items():
            if not state.fetchable or state.retry_at > now:
                continue
            failed = self._failed.get(tp)
            if failed is not None and failed[0] == state.seq:
                continue
            leader = metadata.leader_for(tp.topic, tp.partition)
            if leader is None:
                self._cluster.request_update()
                continue
            if leader in self._in_flight or self._node_retry_at.get(leader, 0.0) > now:
                continue
            plan.setdefault(leader, []).append((tp, state))
        for node, parts in plan.items():
            self._in_flight.add(node)
            self._tasks.start_soon(self._fetch_from, node, parts, name=f"consumer-fetch-{node}")

    async def _fetch_from(
        self, node: int, parts: list[tuple[TopicPartition, PartitionState]]
    ) -> None:
        sent = {tp: (state.seq, state.fetch_offset) for tp, state in parts}
        body = fetch_request(parts, self._config)
        try:
            response = await self._cluster.request(
                node, ApiKey.FETCH, body, timeout=self._fetch_timeout
            )
            code = response.get("error_code", 0)
            if code:
                raise error_for(code, f"fetch from node {node}")
            self._handle_fetch(sent, response)
        except KafkaError as exc:
            if not exc.retriable:
                self._errors.append(exc)
                self.data_ready.fire()
            log.debug("fetch from node %d failed: %s", node, exc)
            self._node_retry_at[node] = trio.current_time() + self._backoff
            self._cluster.request_update()
        finally:
            self._in_flight.discard(node)
            self.changed.fire()

    # ------------------------------------------------------------------ responses

    def _handle_fetch(
        self, sent: dict[TopicPartition, tuple[int, int | None]], response: dict
    ) -> None:
        appended = False
        for topic in response["responses"]:
            name = topic["topic"]
            for part in topic["partitions"]:
                tp = TopicPartition(name, part["partition_index"])
                expected = sent.get(tp)
                state = self._subs.get(tp)
                if expected is None or state is None:
                    continue
                seq, offset = expected
                if state.seq != seq or state.fetch_offset != offset or offset is None:
                    continue  # the position moved while the fetch was in flight
                appended |= self._handle_partition(tp, state, offset, part)
        if appended:
            self.data_ready.fire()

    def _handle_partition(
        self, tp: TopicPartition, state: PartitionState, offset: int, part: dict
    ) -> bool:
        code = part["error_code"]
        if code == ErrorCode.NONE:
            state.high_watermark = part["high_watermark"]
            state.last_stable_offset = part.get("last_stable_offset", -1)
            state.log_start_offset = part.get("log_start_offset", -1)
            diverging = part.get("diverging_epoch")
            if diverging is not None and diverging.get("epoch", -1) >= 0:
                self._truncate(tp, state, diverging["end_offset"], diverging["epoch"])
                return False
            try:
                fetched = FetchedPartition(
                    tp.topic,
                    tp.partition,
                    part.get("records"),
                    offset,
                    read_committed=self._config.read_committed,
                    aborted_transactions=part.get("aborted_transactions"),
                    key_deserializer=self._config.key_deserializer,
                    value_deserializer=self._config.value_deserializer,
                )
            except RecordsError as exc:
                self._fail(tp, state, RecordDecodeError(tp, offset, str(exc)))
                return False
            if fetched.size == 0 and fetched.had_bytes:
                self._fail(tp, state, RecordDecodeError(
                    tp, offset,
                    f"the batch at this offset is larger than max_partition_fetch_bytes "
                    f"({self._config.max_partition_fetch_bytes})",
                ))
                return False
            if fetched.next_offset == offset:
                return False
            state.fetch_offset = fetched.next_offset
            if fetched.last_epoch >= 0:
                state.fetch_epoch = fetched.last_epoch
            self._buffer.append(CompletedFetch(tp, state.seq, fetched))
            self._buffered_bytes += fetched.size
            return True
        if code == ErrorCode.OFFSET_OUT_OF_RANGE:
            log.info("%s-%d: offset %d is out of range", tp.topic, tp.partition, offset)
            self._reset_or_fail(tp, state)
            return False
        if code in _RETRY_AFTER_METADATA:
            state.retry_at = trio.current_time() + self._backoff
            self._cluster.request_update()
            return False
        exc = error_for(code, f"fetching {tp.topic}-{tp.partition}")
        if exc.retriable:
            state.retry_at = trio.current_time() + self._backoff
        else:
            self._fail(tp, state, exc)
        return False

    def _fail(self, tp: TopicPartition, state: PartitionState, exc: KafkaError) -> None:
        self._failed[tp] = (state.seq, exc)
        self.data_ready.fire()

    def _reset_or_fail(self, tp: TopicPartition, state: PartitionState) -> None:
        strategy = self._subs.default_reset
        if strategy == "none":
            state.request_reset("none")
            self._fail(tp, state, NoOffsetForPartitionError([tp]))
        else:
            state.request_reset(strategy)

    def _truncate(
        self, tp: TopicPartition, state: PartitionState, end_offset: int, epoch: int
    ) -> None:
        """The leader's log diverges from what we read: resume where both agree."""
        assert state.position is not None
        if self._subs.default_reset == "none":
            state.rewind_fetch()
            self._fail(tp, state, LogTruncationError({tp: end_offset}))
            return
        target = min(state.position, end_offset)
        log.warning(
            "%s-%d: log truncation detected; moving from offset %d to %d",
            tp.topic, tp.partition, state.position, target,
        )
        state.set_position(target, epoch)

    # ------------------------------------------------------------------ positions

    async def _resolve_committed(self, tps: list[TopicPartition]) -> None:
        assert self._committed_lookup is not None
        seqs = {tp: self._subs.state(tp).seq for tp in tps if self._subs.get(tp) is not None}
        try:
            found = await self._committed_lookup(list(seqs))
        except KafkaError:
            later = trio.current_time() + self._backoff
            for tp in seqs:
                state = self._subs.get(tp)
                if state is not None:
                    state.retry_at = later
            raise
        for tp, seq in seqs.items():
            state = self._subs.get(tp)
            if state is None or state.seq != seq or not state.needs_committed:
                continue
            committed = found.get(tp)
            if committed is not None:
                state.set_position(committed.offset, committed.leader_epoch, validate=True)
            else:
                state.needs_committed = False
                self._reset_or_fail(tp, state)

    def _by_leader(self, tps: list[TopicPartition]) -> dict[int, list[TopicPartition]]:
        nodes: dict[int, list[TopicPartition]] = {}
        metadata = self._cluster.metadata
        for tp in tps:
            leader = metadata.leader_for(tp.topic, tp.partition)
            if leader is None:
                self._cluster.request_update()
                state = self._subs.get(tp)
                if state is not None:
                    state.retry_at = trio.current_time() + self._backoff
                continue
            nodes.setdefault(leader, []).append(tp)
        return nodes

    async def _reset_positions(self, tps: list[TopicPartition]) -> None:
        by_node = self._by_leader(tps)
        async with trio.open_nursery() as nursery:
            for node, parts in by_node.items():
                nursery.start_soon(self._reset_on, node, parts)

    async def _reset_on(self, node: int, tps: list[TopicPartition]) -> None:
        wanted: dict[TopicPartition, tuple[int, int]] = {}
        seqs: dict[TopicPartition, int] = {}
        for tp in tps:
            state = self._subs.get(tp)
            if state is None or state.reset not in _TIMESTAMP_OF:
                continue
            wanted[tp] = (_TIMESTAMP_OF[state.reset], state.current_leader_epoch)
            seqs[tp] = state.seq
        if not wanted:
            return
        try:
            answers = await self.list_offsets_on(node, wanted)
        except KafkaError as exc:
            self._later(list(wanted), exc)
            return
        for tp, answer in answers.items():
            state = self._subs.get(tp)
            if state is None or seqs.get(tp) != state.seq:
                continue
            if answer.error_code == ErrorCode.NONE and answer.offset >= 0:
                state.set_position(answer.offset, answer.leader_epoch)
                state.current_leader_epoch = max(state.current_leader_epoch, answer.leader_epoch)
            else:
                self._partition_retry(tp, state, answer.error_code, "listing offsets")

    async def _validate_positions(self, tps: list[TopicPartition]) -> None:
        by_node = self._by_leader(tps)
        async with trio.open_nursery() as nursery:
            for node, parts in by_node.items():
                nursery.start_soon(self._validate_on, node, parts)

    async def _validate_on(self, node: int, tps: list[TopicPartition]) -> None:
        wanted: dict[TopicPartition, tuple[int, int]] = {}
        seqs: dict[TopicPartition, int] = {}
        for tp in tps:
            state = self._subs.get(tp)
            if state is None or not state.awaiting_validation:
                continue
            wanted[tp] = (state.current_leader_epoch, state.position_epoch)
            seqs[tp] = state.seq
        if not wanted:
            return
        try:
            response = await self._cluster.request(
                node, ApiKey.OFFSET_FOR_LEADER_EPOCH, leader_epoch_request(wanted)
            )
        except UnsupportedVersionByBrokerError:
            for tp in wanted:
                state = self._subs.get(tp)
                if state is not None:
                    state.awaiting_validation = False  # the broker cannot tell; trust it
            return
        except KafkaError as exc:
            self._later(list(wanted), exc)
            return
        truncated: dict[TopicPartition, int] = {}
        for tp, answer in parse_leader_epochs(response).items():
            state = self._subs.get(tp)
            if state is None or seqs.get(tp) != state.seq or state.position is None:
                continue
            if answer.error_code != ErrorCode.NONE:
                self._partition_retry(tp, state, answer.error_code, "validating the position")
                continue
            verdict, offset = validate_position(state.position, answer)
            if verdict == "valid":
                state.awaiting_validation = False
            elif verdict == "unknown":
                self._reset_or_fail(tp, state)
            elif self._subs.default_reset == "none":
                truncated[tp] = offset
            else:
                self._truncate(tp, state, offset, answer.leader_epoch)
        if truncated:
            self._errors.append(LogTruncationError(truncated))
            self.data_ready.fire()

    def _partition_retry(
        self, tp: TopicPartition, state: PartitionState, code: int, what: str
    ) -> None:
        exc = error_for(code, f"{what} for {tp.topic}-{tp.partition}")
        if exc.retriable or code in _RETRY_AFTER_METADATA:
            state.retry_at = trio.current_time() + self._backoff
            self._cluster.request_update()
        else:
            self._fail(tp, state, exc)

    def _later(self, tps: list[TopicPartition], exc: KafkaError) -> None:
        if not exc.retriable:
            self._errors.append(exc)
            self.data_ready.fire()
        later = trio.current_time() + self._backoff
        for tp in tps:
            state = self._subs.get(tp)
            if state is not None:
                state.retry_at = later
        self._cluster.request_update()

    async def _refresh_metadata(self) -> None:
        try:
            await self._cluster.refresh_metadata()
        except KafkaError as exc:
            if not exc.retriable:
                raise
            await trio.sleep(self._backoff)

    # ------------------------------------------------------------------ offset look-ups

    async def list_offsets_on(
        self, node: int, wanted: dict[TopicPartition, tuple[int, int]]
    ) -> dict[TopicPartition, ListedOffset]:
        """One ListOffsets to ``node`` for ``{tp: (timestamp, current_leader_epoch)}``."""
        response = await self._cluster.request(
            node, ApiKey.LIST_OFFSETS, list_offsets_request(wanted, self._config.read_committed)
        )
        return parse_list_offsets(response)

    async def list_offsets(
        self, timestamps: dict[TopicPartition, int], timeout: float
    ) -> dict[TopicPartition, ListedOffset]:
        """ListOffsets for ``{tp: timestamp}`` against each partition's leader, retrying
        retriable errors until ``timeout`` seconds pass; raises the last error then."""
        deadline = trio.current_time() + timeout
        pending = dict(timestamps)
        result: dict[TopicPartition, ListedOffset] = {}
        last_error: KafkaError | None = None
        while pending:
            if trio.current_time() >= deadline:
                raise last_error or error_for(ErrorCode.REQUEST_TIMED_OUT, "listing offsets")
            by_node: dict[int, dict[TopicPartition, tuple[int, int]]] = {}
            for tp, ts in pending.items():
                try:
                    node = await self._cluster.leader_for(
                        tp.topic, tp.partition, timeout=max(deadline - trio.current_time(), 0.001)
                    )
                except KafkaError as exc:
                    if not exc.retriable:
                        raise
                    last_error = exc
                    continue
                epoch = self._epoch_of(tp)
                by_node.setdefault(node, {})[tp] = (ts, epoch)
            answers: dict[TopicPartition, ListedOffset] = {}

            async def ask(node: int, wanted: dict[TopicPartition, tuple[int, int]]) -> None:
                nonlocal last_error
                try:
                    answers.update(await self.list_offsets_on(node, wanted))
                except KafkaError as exc:
                    if not exc.retriable:
                        raise
                    last_error = exc

            async with trio.open_nursery() as nursery:
                for node, wanted in by_node.items():
                    nursery.start_soon(ask, node, wanted)
            for tp, answer in answers.items():
                if tp not in pending:
                    continue
                if answer.error_code == ErrorCode.NONE:
                    result[tp] = answer
                    del pending[tp]
                    continue
                exc = error_for(answer.error_code, f"listing offsets of {tp.topic}-{tp.partition}")
                if not (exc.retriable or answer.error_code in _RETRY_AFTER_METADATA):
                    raise exc
                last_error = exc
            if pending:
                self._cluster.request_update()
                await trio.sleep(self._backoff)
        return result

    def _epoch_of(self, tp: TopicPartition) -> int:
        info = self._cluster.metadata.topics.get(tp.topic)
        part = info.partitions.get(tp.partition) if info is not None else None
        return part.leader_epoch if part is not None else -1

