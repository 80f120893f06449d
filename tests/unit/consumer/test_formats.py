"""Consumer protocol formats: round trips, byte agreement with kafka-python's encoder, and the
layouts other clients write."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka.protocol.consumer.metadata import (
    ConsumerProtocolAssignment as KpAssignment,
    ConsumerProtocolSubscription as KpSubscription,
)

from client.consumer.formats import (
    Assignment,
    FormatError,
    Subscription,
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)
from client.consumer.structs import TopicPartition

topic_names = st.text("abcdefgh._-", min_size=1, max_size=8)
partition_ids = st.lists(st.integers(0, 2**31 - 1), max_size=4)


@st.composite
def grouped_partitions(draw: st.DrawFn) -> list[TopicPartition]:
    """Partitions whose topics each appear in one run (how every client writes them)."""
    topics = draw(st.lists(topic_names, unique=True, max_size=4))
    nonempty = partition_ids.filter(bool) | st.just([0])
    return [TopicPartition(t, p) for t in topics for p in draw(nonempty)]


@st.composite
def subscriptions(draw: st.DrawFn) -> Subscription:
    version = draw(st.integers(0, 3))
    return Subscription(
        topics=draw(st.lists(topic_names, max_size=5)),
        user_data=draw(st.none() | st.binary(max_size=16)),
        owned_partitions=draw(grouped_partitions()) if version >= 1 else [],
        generation_id=draw(st.integers(-1, 2**31 - 1)) if version >= 2 else -1,
        rack_id=draw(st.none() | topic_names) if version >= 3 else None,
        version=version,
    )


@given(subscriptions())
def test_subscription_round_trip(sub: Subscription) -> None:
    assert decode_subscription(encode_subscription(sub)) == sub


@given(subscriptions())
def test_subscription_bytes_match_kafka_python(sub: Subscription) -> None:
    by_topic: dict[str, list[int]] = {}
    for tp in sub.owned_partitions:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    theirs = KpSubscription(
        version=sub.version,
        topics=sub.topics,
        user_data=sub.user_data,
        owned_partitions=[KpSubscription.TopicPartition(topic=t, partitions=p)
                          for t, p in by_topic.items()],
        generation_id=sub.generation_id,
        rack_id=sub.rack_id,
    ).encode()
    assert encode_subscription(sub) == theirs
    assert decode_subscription(theirs) == sub


@given(grouped_partitions(), st.none() | st.binary(max_size=8), st.integers(0, 3))
def test_assignment_bytes_match_kafka_python(
    partitions: list[TopicPartition], user_data: bytes | None, version: int
) -> None:
    ours = Assignment(partitions, user_data, version)
    by_topic: dict[str, list[int]] = {}
    for tp in partitions:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    theirs = KpAssignment(
        version=version,
        assigned_partitions=[KpAssignment.TopicPartition(topic=t, partitions=p)
                             for t, p in by_topic.items()],
        user_data=user_data,
    ).encode()
    assert encode_assignment(ours) == theirs
    assert decode_assignment(theirs) == ours
    decoded = KpAssignment.decode(encode_assignment(ours))
    assert [(tp.topic, tp.partitions) for tp in decoded.assigned_partitions] == list(
        by_topic.items()
    )


def _string(value: str | None) -> bytes:
    if value is None:
        return struct.pack(">h", -1)
    raw = value.encode()
    return struct.pack(">h", len(raw)) + raw


def test_reads_librdkafka_layout() -> None:
    # librdkafka 2.x writes version 3 with an empty (not null) user data, its owned
    # partitions, generation -1 for eager assignors and a null rack.
    data = (
        struct.pack(">hi", 3, 2) + _string("orders") + _string("payments")
        + struct.pack(">i", 0)  # user data: empty
        + struct.pack(">i", 1) + _string("orders") + struct.pack(">iii", 2, 0, 3)
        + struct.pack(">i", -1)
        + _string(None)
    )
    sub = decode_subscription(data)
    assert sub == Subscription(
        ["orders", "payments"], b"", [TopicPartition("orders", 0), TopicPartition("orders", 3)],
        -1, None, 3,
    )


def test_reads_v0_as_old_clients_write_it() -> None:
    # kafka-python 2.0 / aiokafka: version 0, topics and user data only.
    data = struct.pack(">hi", 0, 1) + _string("t") + struct.pack(">i", -1)
    assert decode_subscription(data) == Subscription(["t"], None, [], -1, None, 0)


def test_newer_version_is_read_as_version_3_with_trailing_fields_ignored() -> None:
    sub = Subscription(["t"], b"u", [TopicPartition("t", 1)], 7, "rack", 3)
    data = bytearray(encode_subscription(sub))
    data[0:2] = struct.pack(">h", 9)
    data += b"\x00\x01\x02"  # fields a future version might append
    decoded = decode_subscription(bytes(data))
    assert decoded.version == 9
    assert (decoded.topics, decoded.owned_partitions, decoded.generation_id, decoded.rack_id) == (
        ["t"], [TopicPartition("t", 1)], 7, "rack"
    )


def test_body_shorter_than_its_version_keeps_the_fields_present() -> None:
    sub = Subscription(["t"], b"", [TopicPartition("t", 0)], 4, None, 2)
    data = encode_subscription(sub)
    shortened = struct.pack(">h", 3) + data[2:]  # claims v3 but carries no rack id
    decoded = decode_subscription(shortened)
    assert decoded.generation_id == 4 and decoded.owned_partitions == [TopicPartition("t", 0)]
    assert decoded.rack_id is None


@pytest.mark.parametrize(
    "data", [b"", b"\x00", b"\xff\xff\x00\x00\x00\x00", b"\x00\x00\x00\x00\x00\x05ab"]
)
def test_garbage_subscription_raises_format_error(data: bytes) -> None:
    with pytest.raises(FormatError):
        decode_subscription(data)


def test_empty_assignment_means_no_partitions() -> None:
    assert decode_assignment(b"").partitions == []
    with pytest.raises(FormatError):
        decode_assignment(b"\x00\x00\x00\x00\x00\x07")


def test_encoder_writes_version_3_by_default_with_empty_owned_list() -> None:
    data = encode_subscription(Subscription(["a"], b""))
    assert data[:2] == b"\x00\x03"
    assert KpSubscription.decode(data).owned_partitions == []
    assert KpSubscription.decode(data).generation_id == -1
