"""Fetch: whole record batches up to the high watermark, long-polled until ``min_bytes``.

Each requested partition appears in the response, with data or an error code (clients drop a
full response that leaves one out).  Reads stop at ``partition_max_bytes`` per partition and
``max_bytes`` overall, except that the first partition with data always gets at least one
whole batch.  When less than ``min_bytes`` is ready the request waits up to ``max_wait_ms``
for an append to any of its partitions — woken by the append, never by polling.  Consumers
get no fetch session: the answer carries session id 0, which tells them to send full fetch
requests.  Followers do (``broker.api.fetch_sessions``): a request then names only the
partitions whose fetch state changed, and the answer only those with something new; a
session partition with nothing new is not even read, though its fetch offset still counts as
the follower's progress.

A fetch with ``replica_id`` >= 0 comes from a follower: it is accepted only from a live
registered broker (UNKNOWN_SERVER_ERROR per partition otherwise, and nothing moves), reads up
to the log end offset instead of the high watermark, and its fetch offset is that follower's
progress — which may move the high watermark (waking acks=all produces) and bring the follower
back into the ISR.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import trio

from client.protocol import ErrorCode, RequestHeader

from broker.api.fetch_sessions import FetchSession, session_error
from broker.api.state import BrokerState, state_of
from broker.replication.partition import Partition, now_ms
from broker.server.context import RequestContext
from broker.storage.errors import OffsetOutOfRangeError
from broker.storage.log import FileSlice

Body = dict[str, Any]
_HEADER = struct.Struct(">qi")  # baseOffset, batchLength
_LAST_OFFSET_DELTA = struct.Struct(">i")
READ_COMMITTED = 1
CONSUMER_REPLICA_ID = -1
# Batches at least this large go to the socket with sendfile from the segment file, not
# through a copy in memory; below it one pread into the response is cheaper.
SENDFILE_MIN_BYTES = 64 * 1024


def replica_allowed(state: BrokerState, replica_id: int) -> bool:
    """Whether a request made as replica ``replica_id`` comes from a live registered broker."""
    cluster = state.replicas.cluster
    return cluster is not None and replica_id != state.node_id and replica_id in cluster.live()


def _partition_error(index: int, code: ErrorCode, partition: Partition | None = None) -> Body:
    high_watermark = partition.high_watermark if partition is not None else -1
    log_start = partition.log.log_start_offset if partition is not None else -1
    return {
        "partition_index": index,
        "error_code": code,
        "high_watermark": high_watermark,
        "last_stable_offset": high_watermark,
        "log_start_offset": log_start,
        "aborted_transactions": None,
        "preferred_read_replica": -1,
        "records": b"",
    }


def count_records(data: bytes | FileSlice) -> int:
    """Offsets spanned by the whole batches in ``data`` (headers only, one step per batch;
    a file slice knows it from the read that made it)."""
    if isinstance(data, FileSlice):
        return data.offsets
    if not data:
        return 0
    first = _HEADER.unpack_from(data, 0)[0]
    position = 0
    last = first - 1
    while position + 27 <= len(data):
        base, length = _HEADER.unpack_from(data, position)
        last = base + _LAST_OFFSET_DELTA.unpack_from(data, position + 23)[0]
        position += 12 + length
    return last - first + 1


class FetchPlan:
    """The partitions of one fetch request, resolved once and read as often as it waits."""

    def __init__(self, state: BrokerState, version: int, body: Body) -> None:
        self.state = state
        self.version = version
        self.max_bytes = body.get("max_bytes", 0x7FFFFFFF)
        self.isolation_level = body.get("isolation_level", 0)
        self.replica_id = body.get("replica_id", CONSUMER_REPLICA_ID)
        self.from_replica = self.replica_id >= 0
        self.counted = state.metrics is not None and not self.from_replica
        self.replica_allowed = self.from_replica and replica_allowed(state, self.replica_id)
        self.first_read = True
        self.fetched_at_ms = 0.0  # when a follower's fetch arrived, for its progress
        # A session's test for a partition with nothing to tell (no read needed), if any.
        self.quiet: Callable[[str, Body, Partition], bool] | None = None
        self.topics: list[tuple[str, list[tuple[Body, Partition | None]]]] = []
        for topic in body["topics"]:
            name = topic["topic"]
            self.topics.append(
                (name, [(p, state.replicas.get(name, p["partition"])) for p in topic["partitions"]])
            )

    def partitions(self) -> list[Partition]:
        """Every hosted partition the request names."""
        return [p for _, parts in self.topics for _, p in parts if p is not None]

    def waiters_of(self, partition: Partition) -> set[trio.Event]:
        """The waiters this request joins on ``partition``: a follower reads up to the log
        end and waits for appends; a consumer reads up to the high watermark and waits for
        it to move."""
        return partition.replica_waiters if self.from_replica else partition.data_waiters

    def read(self) -> tuple[Body, int, bool]:
        """The response as it stands now, its record bytes, and whether any partition erred."""
        budget = self.max_bytes
        first_data = True
        total = 0
        erred = False
        responses = []
        metrics = self.state.metrics.log if self.counted else None
        first_read, self.first_read = self.first_read, False
        if first_read and self.from_replica:
            self.fetched_at_ms = now_ms()
        quiet = self.quiet
        for name, parts in self.topics:
            entries = []
            for request, partition in parts:
                if quiet is not None and partition is not None and quiet(name, request, partition):
                    # Left out of the session's answer anyway; its progress still counts.
                    if first_read:
                        self._follower_progress(request, partition)
                    continue
                entry = self._read_partition(request, partition, budget, first_data, first_read)
                records = entry["records"]
                if records:
                    first_data = False
                    budget -= len(records)
                    total += len(records)
                    if metrics is not None:
                        metrics.read(name, count_records(records), len(records))
                if entry["error_code"] != ErrorCode.NONE:
                    erred = True
                entries.append(entry)
            responses.append({"topic": name, "partitions": entries})
        body = {
            "throttle_time_ms": 0,
            "error_code": ErrorCode.NONE,
            "session_id": 0,
            "responses": responses,
        }
        return body, total, erred

    def _follower_progress(self, request: Body, partition: Partition) -> None:
        # The fetch offset is the follower's log end, the durable offset (when it says one)
        # how much of it is fsynced: its progress.
        offset = request["fetch_offset"]
        if partition.log.log_start_offset <= offset <= partition.log.log_end_offset:
            self.state.replicas.follower_fetched(
                partition,
                self.replica_id,
                offset,
                request.get("durable_offset", -1),
                self.fetched_at_ms,
            )

    def _read_partition(
        self,
        request: Body,
        partition: Partition | None,
        budget: int,
        first_data: bool,
        first_read: bool,
    ) -> Body:
        index = request["partition"]
        if self.from_replica and not self.replica_allowed:
            return _partition_error(index, ErrorCode.UNKNOWN_SERVER_ERROR)
        if partition is None:
            return _partition_error(index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        if not partition.is_leader:
            return _partition_error(index, ErrorCode.NOT_LEADER_OR_FOLLOWER, partition)
        epoch = request.get("current_leader_epoch", -1)
        if epoch != -1 and epoch != partition.leader_epoch:
            code = (
                ErrorCode.FENCED_LEADER_EPOCH
                if epoch < partition.leader_epoch
                else ErrorCode.UNKNOWN_LEADER_EPOCH
            )
            return _partition_error(index, code, partition)
        if self.from_replica and first_read:
            self._follower_progress(request, partition)
        high_watermark = partition.high_watermark
        max_offset = None if self.from_replica else high_watermark
        limit = min(request["partition_max_bytes"], budget)
        data = b""
        if limit > 0 or first_data:
            try:
                result = partition.log.read(
                    request["fetch_offset"],
                    max(limit, 1),
                    max_offset=max_offset,
                    min_one_batch=first_data,
                )
            except OffsetOutOfRangeError:
                return _partition_error(index, ErrorCode.OFFSET_OUT_OF_RANGE, partition)
            if len(result) >= SENDFILE_MIN_BYTES and (
                not self.counted or result.next_offset is not None
            ):
                data = result.detached()
            else:
                data = result.to_bytes()
        entry = {
            "partition_index": index,
            "error_code": ErrorCode.NONE,
            "high_watermark": high_watermark,
            "last_stable_offset": high_watermark,
            "log_start_offset": partition.log.log_start_offset,
            "aborted_transactions": [] if self.isolation_level == READ_COMMITTED else None,
            "preferred_read_replica": -1,
            "records": data,
        }
        if self.from_replica:
            entry["log_end_offset"] = partition.log.log_end_offset
        return entry


async def handle_fetch(ctx: RequestContext, header: RequestHeader, body: Body) -> Body:
    """Read what is there; wait for appends while less than ``min_bytes`` is ready."""
    state = state_of(ctx)
    session: FetchSession | None = None
    replica_id = body.get("replica_id", CONSUMER_REPLICA_ID)
    if replica_id >= 0 and header.api_version >= 7 and replica_allowed(state, replica_id):
        opened = state.fetch_sessions.open(replica_id, body)
        if isinstance(opened, FetchSession):
            session = opened
            body = {**body, "topics": session.topics()}
        elif opened is not None:
            return session_error(opened)
    plan = FetchPlan(state, header.api_version, body)
    if session is not None:
        plan.quiet = session.quiet
    deadline = trio.current_time() + max(body["max_wait_ms"], 0) / 1000
    min_bytes = body["min_bytes"]
    while True:
        response, total, erred = plan.read()
        if total >= min_bytes or erred or trio.current_time() >= deadline:
            return session.answer(response) if session is not None else response
        # No await between the read above and registering here: no append can slip between.
        woken = trio.Event()
        watched = plan.partitions()
        for partition in watched:
            plan.waiters_of(partition).add(woken)
        try:
            with trio.move_on_at(deadline):
                await woken.wait()
        finally:
            for partition in watched:
                plan.waiters_of(partition).discard(woken)
