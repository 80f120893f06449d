"""Fetch on the wire: long polls woken by appends, partition errors, byte limits, epochs.

Long-poll timings are measured against the wall clock with wide margins: the point is that
an append wakes a waiting fetch at once (well under a second) instead of when its
max_wait_ms runs out (five seconds), and that an idle fetch really waits.
"""

from __future__ import annotations

import os
import time

import pytest

from client.protocol import ApiKey, ErrorCode
from client.records import build_batch, decode_batches

from harness.broker import BrokerProcess
from harness.wire import (
    WireClient,
    create_topic,
    fetch_body,
    fetch_partitions,
    produce_body,
    produce_partitions,
)

FETCH_VERSION = 12


def produce(client: WireClient, topic: str, batches: dict[int, bytes]) -> None:
    """Append one batch per partition with acks=1 and check it was accepted."""
    response = client.request(ApiKey.PRODUCE, 9, produce_body(topic, batches, acks=1))
    for entry in produce_partitions(response).values():
        assert entry["error_code"] == ErrorCode.NONE


def leader_epoch(client: WireClient, topic: str, partition: int = 0) -> int:
    """The partition's leader epoch from Metadata v12."""
    response = client.request(
        ApiKey.METADATA,
        12,
        {"topics": [{"name": topic}], "allow_auto_topic_creation": False,
         "include_topic_authorized_operations": False},  # fmt: skip
    )
    (described,) = response["topics"]
    return next(p for p in described["partitions"] if p["partition_index"] == partition)[
        "leader_epoch"
    ]


def test_long_poll_returns_as_soon_as_data_is_appended(broker: BrokerProcess, topic_name: str):
    with WireClient(broker.port) as consumer, WireClient(broker.port) as producer:
        create_topic(producer, topic_name)
        started = time.monotonic()
        consumer.send(
            ApiKey.FETCH, FETCH_VERSION,
            fetch_body({(topic_name, 0): 0}, max_wait_ms=5000, min_bytes=1),
        )  # fmt: skip
        time.sleep(0.3)
        appended_at = time.monotonic()
        produce(producer, topic_name, {0: build_batch([b"wake up"])})
        _, response = consumer.receive(timeout=10)
        answered_at = time.monotonic()
        entry = fetch_partitions(response)[(topic_name, 0)]
        records = decode_batches(bytes(entry["records"]))
        assert [r.value for b in records for r in b.records] == [b"wake up"]
        assert answered_at - appended_at < 1.0
        assert answered_at - started < 2.0


def test_long_poll_waits_until_min_bytes_are_there(broker: BrokerProcess, topic_name: str):
    first, second = build_batch([b"a" * 100]), build_batch([b"b" * 100])
    with WireClient(broker.port) as consumer, WireClient(broker.port) as producer:
        create_topic(producer, topic_name)
        consumer.send(
            ApiKey.FETCH, FETCH_VERSION,
            fetch_body({(topic_name, 0): 0}, max_wait_ms=5000,
                       min_bytes=len(first) + len(second)),
        )  # fmt: skip
        produce(producer, topic_name, {0: first})
        with pytest.raises(TimeoutError):  # fewer than min_bytes: still waiting
            consumer.receive(timeout=0.5)
        produce(producer, topic_name, {0: second})
        _, response = consumer.receive(timeout=2)
        batches = decode_batches(bytes(fetch_partitions(response)[(topic_name, 0)]["records"]))
        assert [r.value for b in batches for r in b.records] == [b"a" * 100, b"b" * 100]


def test_long_poll_without_data_returns_empty_after_max_wait(
    broker: BrokerProcess, topic_name: str
):
    with WireClient(broker.port) as client:
        create_topic(client, topic_name)
        started = time.monotonic()
        response = client.request(
            ApiKey.FETCH, FETCH_VERSION,
            fetch_body({(topic_name, 0): 0}, max_wait_ms=600, min_bytes=1), timeout=10,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        entry = fetch_partitions(response)[(topic_name, 0)]
        assert entry["error_code"] == ErrorCode.NONE
        assert not entry["records"]
        assert entry["high_watermark"] == 0
        assert 0.55 <= elapsed < 3.0


def test_every_requested_partition_is_answered(broker: BrokerProcess, topic_name: str):
    with WireClient(broker.port) as client:
        create_topic(client, topic_name, partitions=2)
        produce(client, topic_name, {1: build_batch([b"one"])})
        wanted = {(topic_name, 0): 0, (topic_name, 1): 0, (topic_name, 9): 0,
                  (topic_name + "-missing", 0): 0}  # fmt: skip
        response = client.request(ApiKey.FETCH, FETCH_VERSION, fetch_body(wanted))
        entries = fetch_partitions(response)
        assert sorted(entries) == sorted(wanted)
        assert response["error_code"] == ErrorCode.NONE
        assert entries[(topic_name, 0)]["error_code"] == ErrorCode.NONE
        assert not entries[(topic_name, 0)]["records"]
        assert entries[(topic_name, 1)]["high_watermark"] == 1
        assert len(decode_batches(bytes(entries[(topic_name, 1)]["records"]))) == 1
        for missing in ((topic_name, 9), (topic_name + "-missing", 0)):
            assert entries[missing]["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_one_whole_batch_even_above_max_bytes(broker: BrokerProcess, topic_name: str):
    big = os.urandom(64 * 1024)
    with WireClient(broker.port) as client:
        create_topic(client, topic_name, partitions=2)
        produce(client, topic_name, {0: build_batch([big]), 1: build_batch([big])})
        for max_bytes, partition_max in ((1000, 1000), (50 * 1024 * 1024, 100)):
            response = client.request(
                ApiKey.FETCH, FETCH_VERSION,
                fetch_body({(topic_name, 0): 0, (topic_name, 1): 0}, max_bytes=max_bytes,
                           partition_max_bytes=partition_max),
            )  # fmt: skip
            entries = fetch_partitions(response)
            batches = decode_batches(bytes(entries[(topic_name, 0)]["records"]))
            assert [r.value for b in batches for r in b.records] == [big]
            # only the first partition with data gets a batch beyond the limits
            second = entries[(topic_name, 1)]
            assert (second["error_code"], second["high_watermark"]) == (ErrorCode.NONE, 1)
            assert not second["records"]


def test_partition_max_bytes_stops_at_a_batch_boundary(broker: BrokerProcess, topic_name: str):
    batches = [build_batch([b"%d" % i * 200]) for i in range(3)]
    with WireClient(broker.port) as client:
        create_topic(client, topic_name)
        for batch in batches:
            produce(client, topic_name, {0: batch})
        limit = len(batches[0]) + len(batches[1]) + len(batches[2]) // 2
        response = client.request(
            ApiKey.FETCH, FETCH_VERSION,
            fetch_body({(topic_name, 0): 0}, partition_max_bytes=limit),
        )  # fmt: skip
        records = bytes(fetch_partitions(response)[(topic_name, 0)]["records"])
        assert [b.base_offset for b in decode_batches(records)] == [0, 1]


def test_offset_beyond_log_end_is_out_of_range(broker: BrokerProcess, topic_name: str):
    with WireClient(broker.port) as client:
        create_topic(client, topic_name)
        produce(client, topic_name, {0: build_batch([b"x", b"y"])})
        response = client.request(ApiKey.FETCH, FETCH_VERSION, fetch_body({(topic_name, 0): 3}))
        entry = fetch_partitions(response)[(topic_name, 0)]
        assert entry["error_code"] == ErrorCode.OFFSET_OUT_OF_RANGE
        assert not entry["records"]
        at_end = client.request(ApiKey.FETCH, FETCH_VERSION, fetch_body({(topic_name, 0): 2}))
        entry = fetch_partitions(at_end)[(topic_name, 0)]
        assert (entry["error_code"], entry["high_watermark"]) == (ErrorCode.NONE, 2)
        assert not entry["records"]


def test_leader_epoch_ahead_of_the_broker_is_unknown(broker: BrokerProcess, topic_name: str):
    with WireClient(broker.port) as client:
        create_topic(client, topic_name)
        produce(client, topic_name, {0: build_batch([b"x"])})
        epoch = leader_epoch(client, topic_name)
        assert epoch >= 0
        answers = {}
        for sent in (epoch, epoch + 1, -1):
            response = client.request(
                ApiKey.FETCH, FETCH_VERSION,
                fetch_body({(topic_name, 0): 0}, current_leader_epoch=sent),
            )  # fmt: skip
            answers[sent] = fetch_partitions(response)[(topic_name, 0)]
        assert answers[epoch + 1]["error_code"] == ErrorCode.UNKNOWN_LEADER_EPOCH
        assert not answers[epoch + 1]["records"]
        for sent in (epoch, -1):
            assert answers[sent]["error_code"] == ErrorCode.NONE
            assert len(decode_batches(bytes(answers[sent]["records"]))) == 1
