"""Produce on the wire: acks, versions, compression, corrupt and oversized batches, pipelining.

Each test sends raw requests to a real broker and checks both the answer and what the log
holds afterwards (through Fetch or ListOffsets), so an error reply that still wrote data, or
a success that wrote nothing, fails.
"""

from __future__ import annotations

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

CRC_OFFSET = 17  # baseOffset i64, batchLength i32, partitionLeaderEpoch i32, magic i8


def log_end(client: WireClient, topic: str, partition: int = 0) -> int:
    """The partition's latest offset from ListOffsets v7."""
    response = client.request(
        ApiKey.LIST_OFFSETS,
        7,
        {
            "replica_id": -1,
            "isolation_level": 0,
            "topics": [{"name": topic, "partitions": [
                {"partition_index": partition, "current_leader_epoch": -1, "timestamp": -1}]}],
        },  # fmt: skip
    )
    (entry,) = response["topics"][0]["partitions"]
    assert entry["error_code"] == ErrorCode.NONE
    return entry["offset"]


def fetch_values(client: WireClient, topic: str, partition: int = 0, offset: int = 0) -> list:
    """Record values from ``offset`` up to the high watermark (one fetch, up to 1 MiB)."""
    response = client.request(ApiKey.FETCH, 12, fetch_body({(topic, partition): offset}))
    entry = fetch_partitions(response)[(topic, partition)]
    assert entry["error_code"] == ErrorCode.NONE
    return [r.value for b in decode_batches(bytes(entry["records"] or b"")) for r in b.records]


def test_acks_0_has_no_response_and_the_data_is_stored(broker: BrokerProcess, topic_name: str):
    with WireClient(broker.port) as client:
        create_topic(client, topic_name)
        for i in range(3):
            client.send(
                ApiKey.PRODUCE,
                9,
                produce_body(topic_name, {0: build_batch([b"fire-%d" % i])}, acks=0),
                expect_response=False,
            )
        versions_id = client.send(ApiKey.API_VERSIONS, 3, {
            "client_software_name": "wire", "client_software_version": "1"})  # fmt: skip
        # receive() fails on any correlation id it was not told to expect
        received_id, body = client.receive()
        assert received_id == versions_id
        assert body["error_code"] == ErrorCode.NONE
        assert fetch_values(client, topic_name) == [b"fire-0", b"fire-1", b"fire-2"]


def test_acks_all_below_min_insync_replicas_stores_nothing(broker: BrokerProcess, topic_name):
    with WireClient(broker.port) as client:
        result = create_topic(client, topic_name, configs={"min.insync.replicas": "2"})
        assert result["error_code"] == ErrorCode.NONE
        response = client.request(
            ApiKey.PRODUCE, 9, produce_body(topic_name, {0: build_batch([b"lost"])}, acks=-1)
        )
        entry = produce_partitions(response)[(topic_name, 0)]
        assert entry["error_code"] == ErrorCode.NOT_ENOUGH_REPLICAS
        assert entry["base_offset"] == -1
        assert log_end(client, topic_name) == 0
        # acks=1 does not ask for the in-sync replicas, so it is accepted
        response = client.request(
            ApiKey.PRODUCE, 9, produce_body(topic_name, {0: build_batch([b"kept"])}, acks=1)
        )
        assert produce_partitions(response)[(topic_name, 0)]["error_code"] == ErrorCode.NONE
        assert fetch_values(client, topic_name) == [b"kept"]


@pytest.mark.parametrize("version", [0, 1, 2])
def test_produce_before_v3_is_unsupported_per_partition(
    broker: BrokerProcess, topic_name: str, version: int
):
    with WireClient(broker.port) as client:
        create_topic(client, topic_name, partitions=2)
        batch = build_batch([b"old-client"])
        response = client.request(
            ApiKey.PRODUCE, version, produce_body(topic_name, {0: batch, 1: batch}, acks=1)
        )
        entries = produce_partitions(response)
        assert sorted(entries) == [(topic_name, 0), (topic_name, 1)]
        assert {e["error_code"] for e in entries.values()} == {ErrorCode.UNSUPPORTED_VERSION}
        assert log_end(client, topic_name, 0) == log_end(client, topic_name, 1) == 0


def test_zstd_needs_produce_v7(broker: BrokerProcess, topic_name: str):
    value = b"zstd-compressible " * 50
    with WireClient(broker.port) as client:
        create_topic(client, topic_name)
        batch = build_batch([value], compression=Compression.ZSTD)
        for version in (3, 4, 5, 6):
            response = client.request(
                ApiKey.PRODUCE, version, produce_body(topic_name, {0: batch}, acks=1)
            )
            entry = produce_partitions(response)[(topic_name, 0)]
            assert entry["error_code"] == ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, version
        assert log_end(client, topic_name) == 0
        offsets = []
        for version in (7, 8, 9):
            response = client.request(
                ApiKey.PRODUCE, version, produce_body(topic_name, {0: batch}, acks=1)
            )
            entry = produce_partitions(response)[(topic_name, 0)]
            assert entry["error_code"] == ErrorCode.NONE, version
            offsets.append(entry["base_offset"])
        assert offsets == [0, 1, 2]
        response = client.request(ApiKey.FETCH, 12, fetch_body({(topic_name, 0): 0}))
        batches = decode_batches(bytes(fetch_partitions(response)[(topic_name, 0)]["records"]))
        assert [b.compression for b in batches] == [Compression.ZSTD] * 3
        assert [r.value for b in batches for r in b.records] == [value] * 3


@pytest.mark.parametrize("where", ["crc", "payload"])
def test_corrupt_batch_is_refused_and_other_partitions_are_not(
    broker: BrokerProcess, topic_name: str, where: str
):
    good = build_batch([b"good"])
    corrupt = bytearray(build_batch([b"corrupted"]))
    corrupt[CRC_OFFSET if where == "crc" else len(corrupt) - 2] ^= 0x01
    with WireClient(broker.port) as client:
        create_topic(client, topic_name, partitions=3)
        response = client.request(
            ApiKey.PRODUCE,
            9,
            produce_body(topic_name, {0: good, 1: bytes(corrupt), 2: good}, acks=1),
        )
        entries = produce_partitions(response)
        assert entries[(topic_name, 1)]["error_code"] == ErrorCode.CORRUPT_MESSAGE
        assert entries[(topic_name, 0)]["error_code"] == ErrorCode.NONE
        assert entries[(topic_name, 2)]["error_code"] == ErrorCode.NONE
        assert log_end(client, topic_name, 1) == 0
        assert fetch_values(client, topic_name, 0) == [b"good"]
        assert fetch_values(client, topic_name, 2) == [b"good"]
        # the connection is still usable after the refusal
        response = client.request(ApiKey.PRODUCE, 9, produce_body(topic_name, {1: good}, acks=1))
        assert produce_partitions(response)[(topic_name, 1)]["base_offset"] == 0


def test_batch_over_max_message_bytes_is_too_large(broker: BrokerProcess, topic_name: str):
    limit = 2000
    with WireClient(broker.port) as client:
        create_topic(client, topic_name, configs={"max.message.bytes": str(limit)})
        small = build_batch([b"s" * (limit // 2)])
        large = build_batch([bytes(range(256)) * 10])  # incompressible, over the limit
        assert len(small) <= limit < len(large)
        response = client.request(
            ApiKey.PRODUCE, 9, produce_body(topic_name, {0: large}, acks=1)
        )
        assert produce_partitions(response)[(topic_name, 0)]["error_code"] == (
            ErrorCode.MESSAGE_TOO_LARGE
        )
        assert log_end(client, topic_name) == 0
        response = client.request(ApiKey.PRODUCE, 9, produce_body(topic_name, {0: small}, acks=1))
        assert produce_partitions(response)[(topic_name, 0)]["error_code"] == ErrorCode.NONE


def test_pipelined_produce_appends_and_answers_in_request_order(
    broker: BrokerProcess, topic_name: str
):
    count = 50
    with WireClient(broker.port) as client:
        create_topic(client, topic_name)
        sent = []
        for i in range(count):
            # acks alternate so that fsync waits (acks=-1) sit between quick answers (acks=1)
            acks = -1 if i % 2 == 0 else 1
            values = [b"req-%02d-%d" % (i, j) for j in range(1 + i % 3)]
            body = produce_body(topic_name, {0: build_batch(values)}, acks=acks)
            sent.append((client.send(ApiKey.PRODUCE, 9, body), values))
        answers = [client.receive() for _ in range(count)]
        assert [correlation_id for correlation_id, _ in answers] == [cid for cid, _ in sent]
        expected_offset = 0
        for (_, body), (_, values) in zip(answers, sent):
            entry = produce_partitions(body)[(topic_name, 0)]
            assert entry["error_code"] == ErrorCode.NONE
            assert entry["base_offset"] == expected_offset
            expected_offset += len(values)
        assert fetch_values(client, topic_name) == [v for _, values in sent for v in values]
