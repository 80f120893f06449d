"""Idempotent produce on the wire: Produce v9 batches carrying producer id, epoch and sequence.

A retried batch is acknowledged with the offsets it got the first time and stored once; a
sequence gap is refused; a fenced epoch is refused; and the producer state that makes this
work is still there after a clean restart and after a crash once the data was fsynced.
"""

from __future__ import annotations

import signal

import pytest

from client.protocol import ApiKey, ErrorCode
from client.records import build_batch, decode_batches

from harness.broker import BrokerProcess
from harness.wire import (
    WireClient,
    create_topic,
    fetch_body,
    fetch_partitions,
    init_producer_id,
    produce_body,
    produce_partitions,
)

PRODUCE_VERSION = 9


def produce(client: WireClient, topic: str, batch: bytes, acks: int = -1) -> dict:
    """Send one batch to partition 0 and return that partition's response entry."""
    body = produce_body(topic, {0: batch}, acks)
    response = client.request(ApiKey.PRODUCE, PRODUCE_VERSION, body)
    return produce_partitions(response)[(topic, 0)]


def stored_values(client: WireClient, topic: str) -> list[bytes]:
    """Every record value of partition 0, in offset order."""
    values: list[bytes] = []
    offset = 0
    while True:
        response = client.request(ApiKey.FETCH, 12, fetch_body({(topic, 0): offset}))
        entry = fetch_partitions(response)[(topic, 0)]
        assert entry["error_code"] == ErrorCode.NONE
        batches = decode_batches(bytes(entry["records"] or b""))
        if not batches:
            return values
        for batch in batches:
            values += [record.value for record in batch.records]
            offset = batch.last_offset + 1


def producer_batch(pid: int, epoch: int, sequence: int, values: list[bytes]) -> bytes:
    return build_batch(values, producer_id=pid, producer_epoch=epoch, base_sequence=sequence)


def test_retried_batch_gets_its_original_offset_and_is_stored_once(
    broker: BrokerProcess, topic_name: str
):
    with WireClient(broker.port) as client:
        assert create_topic(client, topic_name)["error_code"] == ErrorCode.NONE
        # an ordinary producer's batch first, so the idempotent one does not start at 0
        assert produce(client, topic_name, build_batch([b"plain"]))["base_offset"] == 0
        pid, epoch = init_producer_id(client)
        first = producer_batch(pid, epoch, 0, [b"a0", b"a1", b"a2"])
        second = producer_batch(pid, epoch, 3, [b"b0", b"b1"])

        answers = [produce(client, topic_name, batch) for batch in (first, first, second, first)]
        assert [a["error_code"] for a in answers] == [ErrorCode.NONE] * 4
        assert [a["base_offset"] for a in answers] == [1, 1, 4, 1]
        # a retry of the latest batch, too
        assert produce(client, topic_name, second)["base_offset"] == 4
        assert stored_values(client, topic_name) == [b"plain", b"a0", b"a1", b"a2", b"b0", b"b1"]


def test_sequence_gap_is_out_of_order(broker: BrokerProcess, topic_name: str):
    with WireClient(broker.port) as client:
        create_topic(client, topic_name)
        pid, epoch = init_producer_id(client)
        assert produce(client, topic_name, producer_batch(pid, epoch, 0, [b"x"]))["error_code"] == 0
        gap = produce(client, topic_name, producer_batch(pid, epoch, 2, [b"skipped-one"]))
        assert gap["error_code"] == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
        assert gap["base_offset"] == -1
        # the next sequence in line is still accepted
        next_one = produce(client, topic_name, producer_batch(pid, epoch, 1, [b"y"]))
        assert next_one["base_offset"] == 1
        assert stored_values(client, topic_name) == [b"x", b"y"]


def test_bumped_epoch_fences_the_old_one(broker: BrokerProcess, topic_name: str):
    with WireClient(broker.port) as client:
        create_topic(client, topic_name)
        pid, epoch = init_producer_id(client)
        first = produce(client, topic_name, producer_batch(pid, epoch, 0, [b"old"]))
        assert first["error_code"] == ErrorCode.NONE
        same_pid, bumped = init_producer_id(client, pid, epoch)
        assert (same_pid, bumped) == (pid, epoch + 1)
        # the new epoch starts its sequences again at 0
        fresh = produce(client, topic_name, producer_batch(pid, bumped, 0, [b"new"]))
        assert (fresh["error_code"], fresh["base_offset"]) == (ErrorCode.NONE, 1)
        stale = produce(client, topic_name, producer_batch(pid, epoch, 1, [b"zombie"]))
        assert stale["error_code"] == ErrorCode.INVALID_PRODUCER_EPOCH
        assert stored_values(client, topic_name) == [b"old", b"new"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_dedup_survives_restart(fresh_broker: BrokerProcess, topic_name: str, sig: int):
    with WireClient(fresh_broker.port) as client:
        create_topic(client, topic_name)
        pid, epoch = init_producer_id(client)
        batches = [producer_batch(pid, epoch, 2 * i, [b"v%d" % (2 * i), b"v%d" % (2 * i + 1)])
                   for i in range(3)]  # fmt: skip
        # acks=-1 answers only after fsync, so a kill -9 afterwards loses nothing
        offsets = [produce(client, topic_name, batch, acks=-1)["base_offset"] for batch in batches]
        assert offsets == [0, 2, 4]

    fresh_broker.restart(sig)

    with WireClient(fresh_broker.port) as client:
        for batch, offset in zip(batches, offsets):
            retry = produce(client, topic_name, batch)
            assert (retry["error_code"], retry["base_offset"]) == (ErrorCode.NONE, offset)
        after = produce(client, topic_name, producer_batch(pid, epoch, 6, [b"v6"]))
        assert after["base_offset"] == 6
        assert stored_values(client, topic_name) == [b"v%d" % i for i in range(7)]
