"""ListOffsets, OffsetForLeaderEpoch and DeleteRecords against a real broker.

Records are produced with chosen timestamps and single-record batches where offsets matter,
so every expected offset follows from what the test wrote.
"""

from __future__ import annotations

import signal

import pytest

from client.protocol import ApiKey, ErrorCode
from client.records import Compression, build_batch, decode_batches

from harness.broker import BrokerProcess
from harness.wire import (
    WireClient,
    create_topic,
    fetch_body,
    fetch_partitions,
    produce_body,
    produce_partitions,
)

EARLIEST, LATEST, MAX_TIMESTAMP = -2, -1, -3


def produce(client: WireClient, topic: str, batch: bytes) -> int:
    """Append one batch to partition 0 (acks=-1); its base offset."""
    response = client.request(ApiKey.PRODUCE, 9, produce_body(topic, {0: batch}))
    entry = produce_partitions(response)[(topic, 0)]
    assert entry["error_code"] == ErrorCode.NONE
    return entry["base_offset"]


def list_offset(client: WireClient, topic: str, timestamp: int, version: int = 7) -> dict:
    """ListOffsets for partition 0; the partition entry."""
    response = client.request(
        ApiKey.LIST_OFFSETS,
        version,
        {
            "replica_id": -1,
            "isolation_level": 0,
            "topics": [{"name": topic, "partitions": [
                {"partition_index": 0, "current_leader_epoch": -1, "timestamp": timestamp}]}],
        },  # fmt: skip
    )
    (entry,) = response["topics"][0]["partitions"]
    return entry


def epoch_end(client: WireClient, topic: str, epoch: int, version: int, current: int = -1) -> dict:
    """OffsetForLeaderEpoch for partition 0; the partition entry."""
    response = client.request(
        ApiKey.OFFSET_FOR_LEADER_EPOCH,
        version,
        {
            "replica_id": -1,
            "topics": [{"topic": topic, "partitions": [
                {"partition": 0, "current_leader_epoch": current, "leader_epoch": epoch}]}],
        },  # fmt: skip
    )
    (entry,) = response["topics"][0]["partitions"]
    return entry


def delete_records(client: WireClient, topic: str, offset: int) -> dict:
    """DeleteRecords v1 for partition 0; the partition entry."""
    response = client.request(
        ApiKey.DELETE_RECORDS,
        1,
        {"topics": [{"name": topic, "partitions": [{"partition_index": 0, "offset": offset}]}],
         "timeout_ms": 10_000},  # fmt: skip
    )
    (entry,) = response["topics"][0]["partitions"]
    return entry


def fetch_at(client: WireClient, topic: str, offset: int) -> dict:
    """Fetch v12 of partition 0 from ``offset``; the partition entry."""
    response = client.request(ApiKey.FETCH, 12, fetch_body({(topic, 0): offset}))
    return fetch_partitions(response)[(topic, 0)]


@pytest.mark.parametrize("compression", [Compression.NONE, Compression.LZ4])
def test_list_offsets_max_timestamp_finds_the_record(
    broker: BrokerProcess, topic_name: str, compression: Compression
):
    base = 1_700_000_000_000
    with WireClient(broker.port) as client:
        create_topic(client, topic_name)
        produce(client, topic_name, build_batch([b"a", b"b"], timestamps=[base + 10, base + 20]))
        # the largest timestamp sits in the middle of the second batch (offsets 2-4)
        produce(
            client,
            topic_name,
            build_batch([b"c", b"d", b"e"], timestamps=[base + 5, base + 90, base + 30],
                        compression=compression),
        )  # fmt: skip
        produce(client, topic_name, build_batch([b"f"], timestamps=[base + 40]))
        found = list_offset(client, topic_name, MAX_TIMESTAMP)
        assert found["error_code"] == ErrorCode.NONE
        assert found["timestamp"] == base + 90
        assert found["leader_epoch"] >= 0
        if compression == Compression.NONE:
            assert found["offset"] == 3
        else:
            # a compressed batch is answered at batch precision: its first offset
            assert found["offset"] == 2
        # a consumer that seeks there reads the record with that timestamp next
        batches = decode_batches(bytes(fetch_at(client, topic_name, found["offset"])["records"]))
        following = [r for b in batches for r in b.records if r.offset >= found["offset"]]
        assert (3, base + 90) in [(r.offset, r.timestamp) for r in following]
        assert (list_offset(client, topic_name, EARLIEST)["offset"],
                list_offset(client, topic_name, LATEST)["offset"]) == (0, 6)  # fmt: skip


def test_list_offsets_by_timestamp(broker: BrokerProcess, topic_name: str):
    base = 1_700_000_000_000
    with WireClient(broker.port) as client:
        create_topic(client, topic_name)
        produce(client, topic_name, build_batch([b"a", b"b"], timestamps=[base + 10, base + 20]))
        produce(client, topic_name, build_batch([b"c", b"d"], timestamps=[base + 30, base + 40]))
        for asked, expected in ((base, (0, base + 10)), (base + 15, (1, base + 20)),
                                (base + 31, (3, base + 40)), (base + 41, (-1, -1))):  # fmt: skip
            entry = list_offset(client, topic_name, asked)
            assert (entry["offset"], entry["timestamp"]) == expected, asked


def test_list_offsets_max_timestamp_of_an_empty_partition(broker: BrokerProcess, topic_name):
    with WireClient(broker.port) as client:
        create_topic(client, topic_name)
        found = list_offset(client, topic_name, MAX_TIMESTAMP)
        assert (found["error_code"], found["offset"], found["timestamp"]) == (0, -1, -1)


@pytest.mark.parametrize("version", [2, 3, 4])
def test_offset_for_leader_epoch(broker: BrokerProcess, topic_name: str, version: int):
    with WireClient(broker.port) as client:
        create_topic(client, topic_name)
        for i in range(4):
            produce(client, topic_name, build_batch([b"%d" % i]))
        current = epoch_end(client, topic_name, 0, version)
        assert (current["error_code"], current["leader_epoch"], current["end_offset"]) == (
            ErrorCode.NONE, 0, 4,
        )  # fmt: skip
        future = epoch_end(client, topic_name, 7, version)
        assert (future["error_code"], future["leader_epoch"], future["end_offset"]) == (
            ErrorCode.NONE, -1, -1,
        )  # fmt: skip
        # librdkafka sends current epoch 0; a client ahead of the broker is told so
        assert epoch_end(client, topic_name, 0, version, current=0)["end_offset"] == 4
        ahead = epoch_end(client, topic_name, 0, version, current=5)
        assert ahead["error_code"] == ErrorCode.UNKNOWN_LEADER_EPOCH


def test_delete_records_moves_log_start_and_survives_restart(
    fresh_broker: BrokerProcess, topic_name: str
):
    with WireClient(fresh_broker.port) as client:
        create_topic(client, topic_name)
        for i in range(6):
            produce(client, topic_name, build_batch([b"r%d" % i]))
        beyond = delete_records(client, topic_name, 7)
        assert beyond["error_code"] == ErrorCode.OFFSET_OUT_OF_RANGE
        deleted = delete_records(client, topic_name, 3)
        assert (deleted["error_code"], deleted["low_watermark"]) == (ErrorCode.NONE, 3)
        # a lower offset later does not move the start back
        assert delete_records(client, topic_name, 1)["low_watermark"] == 3

    fresh_broker.restart(signal.SIGTERM)

    with WireClient(fresh_broker.port) as client:
        assert list_offset(client, topic_name, EARLIEST)["offset"] == 3
        assert list_offset(client, topic_name, LATEST)["offset"] == 6
        below = fetch_at(client, topic_name, 1)
        assert below["error_code"] == ErrorCode.OFFSET_OUT_OF_RANGE
        assert below["log_start_offset"] == 3
        entry = fetch_at(client, topic_name, 3)
        assert entry["log_start_offset"] == 3
        values = [r.value for b in decode_batches(bytes(entry["records"])) for r in b.records]
        assert values == [b"r3", b"r4", b"r5"]
        # -1 deletes up to the high watermark
        assert delete_records(client, topic_name, -1)["low_watermark"] == 6
        assert list_offset(client, topic_name, EARLIEST)["offset"] == 6
