"""The raw generator's requests and response checks, without a broker."""

from __future__ import annotations

import pytest

from bench.kafka_raw import (
    PRODUCE_VERSION,
    ProduceReader,
    ProduceShape,
    produce_requests,
    walk_batches,
)
from client.protocol import ApiKey, ErrorCode, RequestHeader, decode_request, encode_response
from client.records import build_batch, decode_batches


def _response(correlation: int, codes: list[int]) -> bytes:
    header = RequestHeader(ApiKey.PRODUCE, PRODUCE_VERSION, correlation, "t")
    body = {"responses": [{"name": "t", "partition_responses": [
        {"index": i, "error_code": code, "base_offset": 0} for i, code in enumerate(codes)
    ]}], "throttle_time_ms": 0}
    return encode_response(header, body)


def test_requests_carry_one_batch_per_partition_and_distinct_ids() -> None:
    shape = ProduceShape(record_size=10, batch_records=3, partitions=10, partitions_per_request=5)
    requests = produce_requests("t", shape, b"x" * 10)
    seen = set()
    for number, request in enumerate(requests):
        header, body = decode_request(memoryview(request)[4:])
        assert (header.api_key, header.api_version, header.correlation_id) == (
            ApiKey.PRODUCE, PRODUCE_VERSION, number)
        assert body["acks"] == 1
        (topic,) = body["topic_data"]
        indexes = [p["index"] for p in topic["partition_data"]]
        assert len(indexes) == 5
        seen.update(indexes)
        for partition in topic["partition_data"]:
            (batch,) = decode_batches(bytes(partition["records"]))
            assert batch.producer_id == -1 and batch.record_count == 3
            assert [r.value for r in batch.records] == [b"x" * 10] * 3
    assert seen == set(range(10))


def test_reader_counts_responses_in_order() -> None:
    reader = ProduceReader(requests=3, first=1)
    data = _response(1, [0]) + _response(2, [0]) + _response(0, [0])
    assert reader.feed(data[:7]) == 0
    assert reader.feed(data[7:]) == 3


def test_reader_raises_on_a_partition_error() -> None:
    reader = ProduceReader(requests=2)
    with pytest.raises(RuntimeError, match="NOT_LEADER_OR_FOLLOWER"):
        reader.feed(_response(0, [0, ErrorCode.NOT_LEADER_OR_FOLLOWER]))


def test_reader_raises_on_a_response_out_of_order() -> None:
    reader = ProduceReader(requests=4)
    with pytest.raises(RuntimeError, match="arrived where 0 was due"):
        reader.feed(_response(1, [0]))


def test_walk_batches_counts_records_and_finds_the_next_offset() -> None:
    data = build_batch([b"a"] * 4, base_offset=10) + build_batch([b"b"] * 6, base_offset=14)
    assert walk_batches(data) == (10, 20)


def test_walk_batches_ignores_a_cut_off_tail() -> None:
    whole = build_batch([b"a"] * 4, base_offset=0)
    data = whole + build_batch([b"b"] * 6, base_offset=4)[:-5]
    assert walk_batches(data) == (4, 4)
    assert walk_batches(whole[:30]) == (0, -1)
