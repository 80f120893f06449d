"""ListOffsets, OffsetForLeaderEpoch and DeleteRecords: positions in a partition's log.

Consumers see offsets up to the high watermark only; a replica (``replica_id`` >= 0, accepted
from live registered brokers only) sees up to the log end offset.  OffsetForLeaderEpoch from a
follower is fenced strictly by its current leader epoch: a follower with an older epoch gets
FENCED_LEADER_EPOCH and must wait for the newer state.
"""

from __future__ import annotations

from typing import Any

from client.protocol import ErrorCode, RequestHeader

from broker.api.fetch import replica_allowed
from broker.api.state import state_of
from broker.replication.partition import Partition
from broker.server.context import RequestContext
from broker.storage.errors import StorageError
from broker.storage.log import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_TIMESTAMP

Body = dict[str, Any]
CONSUMER_REPLICA_ID = -1
READ_COMMITTED = 1


def _epoch_error(partition: Partition, current_leader_epoch: int) -> ErrorCode | None:
    """FENCED / UNKNOWN_LEADER_EPOCH when a client's idea of the epoch is stale / ahead."""
    if current_leader_epoch == -1 or current_leader_epoch == partition.leader_epoch:
        return None
    if current_leader_epoch < partition.leader_epoch:
        return ErrorCode.FENCED_LEADER_EPOCH
    return ErrorCode.UNKNOWN_LEADER_EPOCH


def list_offset(partition: Partition, timestamp: int, replica_id: int) -> tuple[int, int]:
    """(offset, timestamp) for a ListOffsets query; (-1, -1) when no record qualifies."""
    log = partition.log
    visible_end = log.log_end_offset if replica_id >= 0 else partition.high_watermark
    if timestamp == LATEST_TIMESTAMP:
        return visible_end, -1
    if timestamp == EARLIEST_TIMESTAMP:
        return log.log_start_offset, -1
    found = log.offset_for_timestamp(timestamp)
    if found is None or found[0] >= visible_end:
        return -1, -1
    return found


async def handle_list_offsets(ctx: RequestContext, header: RequestHeader, body: Body) -> Body:
    """Earliest, latest, max-timestamp or by-timestamp offsets per partition."""
    state = state_of(ctx)
    replica_id = body.get("replica_id", CONSUMER_REPLICA_ID)
    refused = replica_id >= 0 and not replica_allowed(state, replica_id)
    topics = []
    for topic in body["topics"]:
        name = topic["name"]
        entries = []
        for request in topic["partitions"]:
            index = request["partition_index"]
            entry: Body = {"partition_index": index, "error_code": ErrorCode.NONE}
            partition = state.replicas.get(name, index)
            if refused:
                entry["error_code"] = ErrorCode.UNKNOWN_SERVER_ERROR
            elif partition is None:
                entry["error_code"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif not partition.is_leader:
                entry["error_code"] = ErrorCode.NOT_LEADER_OR_FOLLOWER
            elif (code := _epoch_error(partition, request.get("current_leader_epoch", -1))):
                entry["error_code"] = code
            else:
                offset, timestamp = list_offset(partition, request["timestamp"], replica_id)
                entry.update(offset=offset, timestamp=timestamp, leader_epoch=partition.leader_epoch)
            entries.append(entry)
        topics.append({"name": name, "partitions": entries})
    return {"throttle_time_ms": 0, "topics": topics}


async def handle_offset_for_leader_epoch(
    ctx: RequestContext, header: RequestHeader, body: Body
) -> Body:
    """The end offset of a leader epoch (the first offset of the next epoch, or the log end).

    An epoch newer than any this log has seen answers -1/-1.  The client's current leader
    epoch is only refused when it is ahead of ours: librdkafka sends 0 when it knows none.
    """
    state = state_of(ctx)
    from_replica = body.get("replica_id", CONSUMER_REPLICA_ID) >= 0
    topics = []
    for topic in body["topics"]:
        name = topic["topic"]
        entries = []
        for request in topic["partitions"]:
            index = request["partition"]
            entry: Body = {"partition": index, "error_code": ErrorCode.NONE}
            partition = state.replicas.get(name, index)
            current = request.get("current_leader_epoch", -1)
            if partition is None:
                entry["error_code"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif not partition.is_leader:
                entry["error_code"] = ErrorCode.NOT_LEADER_OR_FOLLOWER
            elif current > partition.leader_epoch:
                entry["error_code"] = ErrorCode.UNKNOWN_LEADER_EPOCH
            elif from_replica and current != -1 and current < partition.leader_epoch:
                entry["error_code"] = ErrorCode.FENCED_LEADER_EPOCH
            else:
                epoch, end_offset = partition.log.end_offset_for_epoch(request["leader_epoch"])
                entry.update(leader_epoch=epoch, end_offset=end_offset)
            entries.append(entry)
        topics.append({"topic": name, "partitions": entries})
    return {"throttle_time_ms": 0, "topics": topics}


async def handle_delete_records(ctx: RequestContext, header: RequestHeader, body: Body) -> Body:
    """Move each partition's log start offset forward (-1: to the high watermark)."""
    state = state_of(ctx)
    topics = []
    for topic in body["topics"]:
        name = topic["name"]
        entries = []
        for request in topic["partitions"]:
            index = request["partition_index"]
            entry: Body = {"partition_index": index, "low_watermark": -1,
                           "error_code": ErrorCode.NONE}  # fmt: skip
            partition = state.replicas.get(name, index)
            offset = request["offset"]
            if partition is None:
                entry["error_code"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif not partition.is_leader:
                entry["error_code"] = ErrorCode.NOT_LEADER_OR_FOLLOWER
            else:
                if offset == -1:
                    offset = partition.high_watermark
                if offset < 0 or offset > partition.high_watermark:
                    entry["error_code"] = ErrorCode.OFFSET_OUT_OF_RANGE
                else:
                    try:
                        entry["low_watermark"] = partition.log.delete_records(offset)
                        state.replicas.report_size(partition)
                    except StorageError:
                        entry["error_code"] = ErrorCode.KAFKA_STORAGE_ERROR
            entries.append(entry)
        topics.append({"name": name, "partitions": entries})
    return {"throttle_time_ms": 0, "topics": topics}
