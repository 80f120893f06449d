"""Request bodies and answers about offsets: list, fetch committed, commit, check epochs.

Pure functions from what the consumer knows to request bodies, and from response bodies to
per-partition results, so the consumer's I/O code never walks nested response dicts itself.
Fields that a negotiated version lacks are simply ignored by the codec, so each body carries
the fields of every version the SDK speaks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from client.consumer.structs import OffsetAndMetadata, TopicPartition

__all__ = [
    "EARLIEST_TIMESTAMP",
    "LATEST_TIMESTAMP",
    "EpochEnd",
    "ListedOffset",
    "by_topic",
    "leader_epoch_request",
    "list_offsets_request",
    "offset_commit_request",
    "offset_fetch_request",
    "parse_leader_epochs",
    "parse_list_offsets",
    "parse_offset_commit",
    "parse_offset_fetch",
    "validate_position",
]

LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2
READ_UNCOMMITTED = 0
READ_COMMITTED = 1
CONSUMER_REPLICA_ID = -1


class ListedOffset(NamedTuple):
    """One partition's ListOffsets answer."""

    error_code: int
    offset: int
    timestamp: int
    leader_epoch: int


class EpochEnd(NamedTuple):
    """One partition's OffsetForLeaderEpoch answer: where ``leader_epoch`` ended."""

    error_code: int
    leader_epoch: int
    end_offset: int


def by_topic(partitions: Mapping[TopicPartition, object]) -> dict[str, list[TopicPartition]]:
    """Partitions grouped by topic, topics and partitions in first-seen order."""
    grouped: dict[str, list[TopicPartition]] = {}
    for tp in partitions:
        grouped.setdefault(tp.topic, []).append(tp)
    return grouped


def list_offsets_request(
    wanted: Mapping[TopicPartition, tuple[int, int]], read_committed: bool
) -> dict:
    """ListOffsets for ``{tp: (timestamp, current_leader_epoch)}``; timestamps may be
    EARLIEST_TIMESTAMP or LATEST_TIMESTAMP."""
    return {
        "replica_id": CONSUMER_REPLICA_ID,
        "isolation_level": READ_COMMITTED if read_committed else READ_UNCOMMITTED,
        "topics": [
            {
                "name": topic,
                "partitions": [
                    {
                        "partition_index": tp.partition,
                        "current_leader_epoch": wanted[tp][1],
                        "timestamp": wanted[tp][0],
                        "max_num_offsets": 1,
                    }
                    for tp in tps
                ],
            }
            for topic, tps in by_topic(wanted).items()
        ],
        "timeout_ms": 0,
    }


def parse_list_offsets(response: dict) -> dict[TopicPartition, ListedOffset]:
    """``{tp: ListedOffset}`` from a ListOffsets response (v0's offset list read too)."""
    result: dict[TopicPartition, ListedOffset] = {}
    for topic in response["topics"]:
        for part in topic["partitions"]:
            offset = part.get("offset", -1)
            if "old_style_offsets" in part:
                offset = part["old_style_offsets"][0] if part["old_style_offsets"] else -1
            result[TopicPartition(topic["name"], part["partition_index"])] = ListedOffset(
                part["error_code"], offset, part.get("timestamp", -1), part.get("leader_epoch", -1)
            )
    return result


def offset_fetch_request(
    group_id: str, partitions: list[TopicPartition], require_stable: bool
) -> dict:
    """OffsetFetch of ``partitions``' committed offsets in ``group_id``."""
    grouped = by_topic(dict.fromkeys(partitions))
    return {
        "group_id": group_id,
        "topics": [
            {"name": topic, "partition_indexes": [tp.partition for tp in tps]}
            for topic, tps in grouped.items()
        ],
        "require_stable": require_stable,
    }


def parse_offset_fetch(
    response: dict,
) -> tuple[int, dict[TopicPartition, tuple[int, OffsetAndMetadata | None]]]:
    """(group error code, ``{tp: (error code, committed or None)}``) from OffsetFetch."""
    result: dict[TopicPartition, tuple[int, OffsetAndMetadata | None]] = {}
    for topic in response.get("topics", ()):
        for part in topic["partitions"]:
            offset = part["committed_offset"]
            committed = None
            if offset >= 0:
                committed = OffsetAndMetadata(
                    offset, part.get("metadata") or "", part.get("committed_leader_epoch", -1)
                )
            result[TopicPartition(topic["name"], part["partition_index"])] = (
                part["error_code"],
                committed,
            )
    return response.get("error_code", 0), result


def offset_commit_request(
    group_id: str,
    generation_id: int,
    member_id: str,
    group_instance_id: str | None,
    offsets: Mapping[TopicPartition, OffsetAndMetadata],
) -> dict:
    """OffsetCommit of ``offsets`` by a member of ``generation_id`` (-1 and "" outside a
    group generation, as a consumer with a hand-made assignment commits)."""
    return {
        "group_id": group_id,
        "generation_id_or_member_epoch": generation_id,
        "member_id": member_id,
        "group_instance_id": group_instance_id,
        "retention_time_ms": -1,
        "topics": [
            {
                "name": topic,
                "partitions": [
                    {
                        "partition_index": tp.partition,
                        "committed_offset": offsets[tp].offset,
                        "committed_leader_epoch": offsets[tp].leader_epoch,
                        "commit_timestamp": -1,
                        "committed_metadata": offsets[tp].metadata,
                    }
                    for tp in tps
                ],
            }
            for topic, tps in by_topic(offsets).items()
        ],
    }


def parse_offset_commit(response: dict) -> dict[TopicPartition, int]:
    """``{tp: error code}`` from an OffsetCommit response."""
    return {
        TopicPartition(topic["name"], part["partition_index"]): part["error_code"]
        for topic in response["topics"]
        for part in topic["partitions"]
    }


def leader_epoch_request(wanted: Mapping[TopicPartition, tuple[int, int]]) -> dict:
    """OffsetForLeaderEpoch for ``{tp: (current_leader_epoch, epoch to look up)}``."""
    return {
        "replica_id": -1,
        "topics": [
            {
                "topic": topic,
                "partitions": [
                    {
                        "partition": tp.partition,
                        "current_leader_epoch": wanted[tp][0],
                        "leader_epoch": wanted[tp][1],
                    }
                    for tp in tps
                ],
            }
            for topic, tps in by_topic(wanted).items()
        ],
    }


def parse_leader_epochs(response: dict) -> dict[TopicPartition, EpochEnd]:
    """``{tp: EpochEnd}`` from an OffsetForLeaderEpoch response."""
    return {
        TopicPartition(topic["topic"], part["partition"]): EpochEnd(
            part["error_code"], part.get("leader_epoch", -1), part["end_offset"]
        )
        for topic in response["topics"]
        for part in topic["partitions"]
    }


def validate_position(position: int, answer: EpochEnd) -> tuple[str, int]:
    """What a position check concludes, as ``(verdict, offset)``:

    * ``("valid", position)`` — the leader's log holds the epoch up to at least the position;
    * ``("truncated", end)`` — the log diverged before the position: resume from ``end``;
    * ``("unknown", -1)`` — the leader knows nothing of the epoch: reset the position.
    """
    if answer.end_offset < 0 or answer.leader_epoch < 0:
        return "unknown", -1
    if answer.end_offset < position:
        return "truncated", answer.end_offset
    return "valid", position
