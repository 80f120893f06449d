"""Produce: append each partition's record batches, answer per acks.

``acks=0`` gets no response at all; ``acks=1`` is answered once the batches are in the page
cache; ``acks=-1`` (all) once they are fsynced — group-committed, so one fsync serves every
request that arrived meanwhile — unless the topic sets ``write.caching=true``.  In a cluster
``acks=-1`` first needs ``min.insync.replicas`` in the ISR (NOT_ENOUGH_REPLICAS, nothing
appended), then waits until the high watermark passes the batches — woken by the followers'
fetches, never polling — or ``timeout_ms`` (REQUEST_TIMED_OUT); an ISR that shrinks below
``min.insync.replicas`` meanwhile gives NOT_ENOUGH_REPLICAS_AFTER_APPEND, a leadership that
moves gives NOT_LEADER_OR_FOLLOWER.  Appends of one
connection happen in request order even though requests are handled concurrently.  The
records of a request are never decoded: storage validates and appends them as bytes.
"""

from __future__ import annotations

import logging
import struct
from typing import Any

import trio

from client.protocol import ErrorCode, RequestHeader

from broker.api.state import BrokerState, state_of
from broker.replication.partition import (
    CommitState,
    NotEnoughReplicasError,
    NotLeaderError,
    Partition,
)
from broker.server.context import RequestContext
from broker.storage.errors import (
    InvalidRecordsError,
    OutOfOrderSequenceError,
    ProducerFencedError,
    RecordTooLargeError,
    StorageError,
)

log = logging.getLogger("rillet.produce")

Body = dict[str, Any]
FIRST_SUPPORTED_VERSION = 3  # record batch v2 (magic 2) starts at Produce v3
ZSTD_MIN_VERSION = 7
_LENGTH = struct.Struct(">i")
_ATTRIBUTES = struct.Struct(">h")


def uses_zstd(records: memoryview) -> bool:
    """True when any batch header in ``records`` names the zstd codec (headers only)."""
    position = 0
    end = len(records)
    while position + 23 <= end:
        if _ATTRIBUTES.unpack_from(records, position + 21)[0] & 0x07 == 4:
            return True
        position += 12 + _LENGTH.unpack_from(records, position + 8)[0]
    return False


def _error(index: int, code: ErrorCode, message: str | None = None) -> Body:
    return {
        "index": index,
        "error_code": code,
        "base_offset": -1,
        "log_append_time_ms": -1,
        "log_start_offset": -1,
        "error_message": message,
    }


def append_partition(
    state: BrokerState, topic: str, data: Body, acks: int, version: int
) -> tuple[Body, Partition | None, int]:
    """Append one partition's batches; the response entry, and what acks=all must wait for."""
    index = data["index"]
    records = data["records"]
    if version < FIRST_SUPPORTED_VERSION:
        return _error(index, ErrorCode.UNSUPPORTED_VERSION), None, 0
    partition = state.replicas.get(topic, index)
    if partition is None:
        return _error(index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION), None, 0
    if records is None or len(records) == 0:
        return _error(index, ErrorCode.CORRUPT_MESSAGE, "no record batches"), None, 0
    if version < ZSTD_MIN_VERSION and uses_zstd(records):
        return _error(index, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE), None, 0
    try:
        info = partition.append(records, acks)
    except NotLeaderError:
        return _error(index, ErrorCode.NOT_LEADER_OR_FOLLOWER), None, 0
    except NotEnoughReplicasError as exc:
        return _error(index, ErrorCode.NOT_ENOUGH_REPLICAS, str(exc)), None, 0
    except InvalidRecordsError as exc:
        log.info("rejected batches for %s-%d: %s", topic, index, exc)
        return _error(index, ErrorCode.CORRUPT_MESSAGE, str(exc)), None, 0
    except RecordTooLargeError as exc:
        return _error(index, ErrorCode.MESSAGE_TOO_LARGE, str(exc)), None, 0
    except OutOfOrderSequenceError as exc:
        return _error(index, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, str(exc)), None, 0
    except ProducerFencedError as exc:
        return _error(index, ErrorCode.INVALID_PRODUCER_EPOCH, str(exc)), None, 0
    except StorageError as exc:
        log.error("append to %s-%d failed: %s", topic, index, exc)
        return _error(index, ErrorCode.KAFKA_STORAGE_ERROR, str(exc)), None, 0
    if not info.duplicate and state.metrics is not None:
        state.metrics.log.appended(topic, info.record_count, info.size)
        state.replicas.report_size(partition)
    entry = {
        "index": index,
        "error_code": ErrorCode.NONE,
        "base_offset": info.first_offset,
        "log_append_time_ms": info.log_append_time,
        "log_start_offset": info.log_start_offset,
        "error_message": None,
    }
    return entry, partition, info.last_offset + 1


async def handle_produce(ctx: RequestContext, header: RequestHeader, body: Body) -> Body | None:
    """Append every partition's batches, then answer as ``acks`` asks."""
    state = state_of(ctx)
    acks = body["acks"]
    responses = []
    durable: list[tuple[Partition, int, Body]] = []
    replicated: list[tuple[Partition, int, int, Body]] = []
    async with ctx.ordered():
        for topic in body["topic_data"]:
            name = topic["name"]
            entries = []
            for data in topic["partition_data"]:
                entry, partition, end = append_partition(
                    state, name, data, acks, header.api_version
                )
                entries.append(entry)
                if partition is None or acks != -1:
                    continue
                if partition.leader_state is not None:
                    replicated.append((partition, end, partition.leader_epoch, entry))
                elif not partition.log.config.write_caching:
                    durable.append((partition, end, entry))
            responses.append({"name": name, "partition_responses": entries})
    if durable:
        await _wait_durable(state, durable, body["timeout_ms"])
    if replicated:
        await _wait_replicated(replicated, body["timeout_ms"])
    if acks == 0:
        return None
    return {"responses": responses, "throttle_time_ms": 0}


async def _wait_durable(
    state: BrokerState, durable: list[tuple[Partition, int, Body]], timeout_ms: int
) -> None:
    """Wait until each partition is fsynced past its batches; mark failures in the entries."""
    commit = state.replicas.group_commit
    done: set[int] = set()

    async def wait_one(i: int, partition: Partition, end: int, entry: Body) -> None:
        try:
            await commit.wait_durable(partition.log, end)
            done.add(i)
        except OSError as exc:
            entry.update(error_code=ErrorCode.KAFKA_STORAGE_ERROR, error_message=str(exc))
            done.add(i)

    with trio.move_on_after(max(timeout_ms, 0) / 1000):
        async with trio.open_nursery() as nursery:
            for i, (partition, end, entry) in enumerate(durable):
                nursery.start_soon(wait_one, i, partition, end, entry)
    for i, (_, _, entry) in enumerate(durable):
        if i not in done:
            entry.update(error_code=ErrorCode.REQUEST_TIMED_OUT, base_offset=-1)


_COMMIT_ERRORS = {
    CommitState.NOT_LEADER: ErrorCode.NOT_LEADER_OR_FOLLOWER,
    CommitState.NOT_ENOUGH_REPLICAS: ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
}


async def _wait_replicated(
    waiting: list[tuple[Partition, int, int, Body]], timeout_ms: int
) -> None:
    """Wait until each partition's high watermark passes its batches; mark failures.

    One event per round is registered with every partition still waiting: whichever moves
    first wakes the request, which looks at all of them again.
    """
    deadline = trio.current_time() + max(timeout_ms, 0) / 1000
    pending = waiting
    while True:
        still = []
        for item in pending:
            partition, end, epoch, entry = item
            outcome = partition.commit_state(end, epoch)
            if outcome is CommitState.WAITING:
                still.append(item)
            elif outcome is not CommitState.COMMITTED:
                entry.update(error_code=_COMMIT_ERRORS[outcome], base_offset=-1)
        pending = still
        if not pending or trio.current_time() >= deadline:
            break
        woken = trio.Event()
        for partition, end, _, _ in pending:
            partition.commit_waiters.add(end, woken)
        try:
            with trio.move_on_at(deadline):
                await woken.wait()
        finally:
            for partition, _, _, _ in pending:
                partition.commit_waiters.discard(woken)
    for _, _, _, entry in pending:
        entry.update(error_code=ErrorCode.REQUEST_TIMED_OUT, base_offset=-1)
