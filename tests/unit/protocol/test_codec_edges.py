"""The codec's contract beyond round trips: versions table, headers, unsupported versions,
bounded decoding, zero-copy records, defaults and the ApiVersions error reply."""

from __future__ import annotations

import struct
import uuid

import pytest

from client.protocol import (
    SUPPORTED_VERSIONS,
    ApiKey,
    ErrorCode,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    RequestHeader,
    UnsupportedVersionError,
    api_versions_error_response,
    decode_request,
    decode_response,
    encode_request,
    encode_request_chunks,
    encode_response,
    encode_response_chunks,
)
from client.protocol.messages import SCHEMAS
from client.protocol.versions import FLEXIBLE_FROM, response_header_version
from unit.protocol.kafka_python_twins import KP

ADVERTISED = {  # PROTOCOL.md, "Advertise these ranges"
    ApiKey.API_VERSIONS: (0, 4),
    ApiKey.METADATA: (0, 12),
    ApiKey.PRODUCE: (0, 9),
    ApiKey.FETCH: (4, 12),
    ApiKey.LIST_OFFSETS: (1, 7),
    ApiKey.OFFSET_FOR_LEADER_EPOCH: (2, 4),
    ApiKey.INIT_PRODUCER_ID: (0, 4),
    ApiKey.FIND_COORDINATOR: (0, 3),
    ApiKey.JOIN_GROUP: (0, 5),
    ApiKey.SYNC_GROUP: (0, 3),
    ApiKey.HEARTBEAT: (0, 3),
    ApiKey.LEAVE_GROUP: (0, 1),
    ApiKey.OFFSET_COMMIT: (2, 7),
    ApiKey.OFFSET_FETCH: (1, 7),
    ApiKey.CREATE_TOPICS: (2, 4),
    ApiKey.DELETE_TOPICS: (1, 3),
    ApiKey.SASL_HANDSHAKE: (0, 1),
    ApiKey.SASL_AUTHENTICATE: (0, 1),
}


def test_supported_versions_table() -> None:
    assert set(SUPPORTED_VERSIONS) == set(ApiKey) == set(SCHEMAS) == set(FLEXIBLE_FROM)
    for api, span in ADVERTISED.items():
        assert SUPPORTED_VERSIONS[api] == span, api


@pytest.mark.parametrize("api", list(ApiKey), ids=lambda a: a.name.lower())
def test_flexible_versions_agree_with_kafka_python(api: ApiKey) -> None:
    theirs = KP[(int(api), "request")]._flexible_versions  # (-1, -1) when never flexible
    assert FLEXIBLE_FROM[api] == (None if theirs is None or theirs[0] < 0 else theirs[0])


def test_api_versions_response_header_is_always_v0() -> None:
    for version in range(5):
        assert response_header_version(ApiKey.API_VERSIONS, version) == 0
    assert response_header_version(ApiKey.METADATA, 9) == 1
    assert response_header_version(ApiKey.METADATA, 8) == 0


def test_flexible_request_header_keeps_int16_client_id() -> None:
    wire = encode_request(ApiKey.METADATA, 12, 1, "abc", {"topics": None})
    # size, key, version, correlation id, then int16 length 3 (not a varint of 4)
    assert wire[4:12] == struct.pack(">hhi", 3, 12, 1)
    assert wire[12:17] == b"\x00\x03abc"
    assert wire[17] == 0  # header tag section


def test_absent_fields_take_kafka_defaults() -> None:
    wire = encode_response(RequestHeader(ApiKey.METADATA, 8, 1, None), {})
    _, body = decode_response(ApiKey.METADATA, 8, wire[4:])
    assert body["controller_id"] == -1
    assert body["cluster_id"] is None
    assert body["cluster_authorized_operations"] == -(2**31)
    assert body["brokers"] == [] and body["topics"] == []
    _, body = decode_request(encode_request(ApiKey.FETCH, 12, 1, None, {})[4:])
    assert body["replica_id"] == -1 and body["max_bytes"] == 0x7FFFFFFF
    assert body["cluster_id"] is None and body["session_epoch"] == -1


def test_fields_absent_from_a_version_are_absent_from_the_dict() -> None:
    _, v3 = decode_request(encode_request(ApiKey.PRODUCE, 3, 1, None, {})[4:])
    _, v2 = decode_request(encode_request(ApiKey.PRODUCE, 2, 1, None, {})[4:])
    assert "transactional_id" in v3 and "transactional_id" not in v2


def test_records_decode_as_views_into_the_frame() -> None:
    records = b"\x07" * 5000
    body = {"acks": -1, "timeout_ms": 1000, "topic_data": [
        {"name": "t", "partition_data": [{"index": 0, "records": records}]}]}
    frame = bytearray(encode_request(ApiKey.PRODUCE, 9, 3, "p", body)[4:])
    _, decoded = decode_request(frame)
    view = decoded["topic_data"][0]["partition_data"][0]["records"]
    assert isinstance(view, memoryview) and view == records
    frame[-10] ^= 0xFF  # the view shares the frame's memory
    assert view != records


def test_response_chunks_pass_records_through() -> None:
    records = memoryview(bytearray(b"r" * 4096))
    body = {"responses": [{"topic": "t", "partitions": [
        {"partition_index": p, "high_watermark": 1, "records": records} for p in range(3)]}]}
    header = RequestHeader(ApiKey.FETCH, 12, 77, None)
    chunks = encode_response_chunks(header, body)
    assert sum(1 for c in chunks if c is records) == 3
    assert b"".join(chunks) == encode_response(header, body)


@pytest.mark.parametrize("version", [3, 9])  # before and after flexible versions
def test_request_chunks_pass_records_through(version: int) -> None:
    big, small = b"b" * 4096, b"s" * 10  # only records of 1 KiB and more are passed through
    body = {"acks": 1, "timeout_ms": 1000, "topic_data": [
        {"name": "t", "partition_data": [
            {"index": 0, "records": big}, {"index": 1, "records": small},
            {"index": 2, "records": big}]}]}
    chunks = encode_request_chunks(ApiKey.PRODUCE, version, 5, "p", body)
    assert sum(1 for c in chunks if c is big) == 2
    assert not any(c is small for c in chunks)
    assert b"".join(chunks) == encode_request(ApiKey.PRODUCE, version, 5, "p", body)


def test_unsupported_version_keeps_the_header() -> None:
    wire = encode_request(ApiKey.API_VERSIONS, 3, 42, "cli", {})
    frame = bytearray(wire[4:])
    struct.pack_into(">h", frame, 2, 7)
    with pytest.raises(UnsupportedVersionError) as info:
        decode_request(frame)
    assert info.value.header == RequestHeader(ApiKey.API_VERSIONS, 7, 42, "cli")
    assert info.value.error_code == ErrorCode.UNSUPPORTED_VERSION


def test_unknown_api_key_is_unsupported() -> None:
    frame = struct.pack(">hhih", 71, 0, 5, -1)
    with pytest.raises(UnsupportedVersionError) as info:
        decode_request(frame)
    assert info.value.header == RequestHeader(71, 0, 5, None)


def test_api_versions_error_response_is_a_v0_body() -> None:
    wire = api_versions_error_response(99)
    assert struct.unpack_from(">ii", wire) == (len(wire) - 4, 99)
    # error 35, one entry: ApiVersions 0..4
    assert wire[8:] == struct.pack(">hihhh", 35, 1, 18, 0, 4)
    theirs = KP[(18, "response")].decode(wire, version=0, header=True, framed=True)
    assert theirs.error_code == 35 and theirs.api_keys[0].max_version == 4


@pytest.mark.parametrize(
    "body",
    [
        {"topic_data": [{"name": None}]},  # null for a non-nullable string
        {"acks": 1 << 20},  # int16 overflow
        {"topic_data": [{"partition_data": [{"index": "zero"}]}]},
        {"topic_data": 5},
    ],
)
def test_unencodable_body_is_a_local_error(body: dict) -> None:
    with pytest.raises(LocalProtocolError):
        encode_request(ApiKey.PRODUCE, 9, 1, None, body)


def test_encoding_an_unimplemented_version_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        encode_request(ApiKey.FETCH, 13, 1, None, {})


HUGE = 2**31 - 1


@pytest.mark.parametrize(
    "frame",
    [
        # Metadata v1: topics array declares 2^31-1 elements
        struct.pack(">hhih", 3, 1, 1, -1) + struct.pack(">i", HUGE),
        # Produce v3: transactional id string declares 32767 bytes
        struct.pack(">hhih", 0, 3, 1, -1) + struct.pack(">h", 32767),
        # SaslAuthenticate v0: bytes declare 2^31-1
        struct.pack(">hhih", 36, 0, 1, -1) + struct.pack(">i", HUGE),
        # Metadata v9 (flexible): compact array count 2^32-2, as a 5-byte varint
        struct.pack(">hhih", 3, 9, 1, -1) + b"\x00" + b"\xff\xff\xff\xff\x0f",
        # an over-long varint
        struct.pack(">hhih", 3, 9, 1, -1) + b"\x00" + b"\xff" * 8,
        # negative array length other than null
        struct.pack(">hhih", 3, 1, 1, -1) + struct.pack(">i", -2),
        # truncated header
        b"\x00\x03\x00",
        # invalid UTF-8 in a string
        struct.pack(">hhih", 17, 0, 1, -1) + struct.pack(">h", 2) + b"\xff\xfe",
        # flexible tag section with tags out of order
        encode_request(ApiKey.API_VERSIONS, 3, 1, None, {})[4:-1] + b"\x02\x05\x00\x01\x00",
    ],
)
def test_malformed_requests_raise_remote_errors(frame: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_request(frame)


def test_bytes_after_a_whole_request_body_are_ignored() -> None:
    # librdkafka 2.16 (confluent-kafka) asks for all topics with this Metadata v12 request:
    # the body ends after four bytes and three more follow. Kafka's broker ignores them.
    frame = bytes.fromhex("0003000c00000003000772646b61666b610000000000010000")
    header, body = decode_request(frame)
    assert (header.api_key, header.api_version, header.client_id) == (3, 12, "rdkafka")
    assert body["topics"] is None
    assert body["allow_auto_topic_creation"] is False


def test_known_tagged_field_must_fill_its_size() -> None:
    body = {"responses": [{"topic": "t", "partitions": [
        {"partition_index": 0, "current_leader": {"leader_id": 1, "leader_epoch": 2}}]}]}
    wire = bytearray(encode_response(RequestHeader(ApiKey.FETCH, 12, 1, None), body))
    marker = bytes([1, 9])  # tag 1, size 9 (two int32s + an empty tag section)
    at = wire.find(marker)
    assert at > 0
    wire[at + 1] = 8
    with pytest.raises(ProtocolError):
        decode_response(ApiKey.FETCH, 12, bytes(wire[4:]))


def test_unknown_tags_are_skipped() -> None:
    wire = encode_response(RequestHeader(ApiKey.API_VERSIONS, 3, 1, None), {"error_code": 0})
    # replace the empty top-level tag section with one holding an unknown tag 9
    frame = wire[4:-1] + b"\x01\x09\x02zz"
    _, body = decode_response(ApiKey.API_VERSIONS, 3, frame)
    assert body["error_code"] == 0 and body["finalized_features_epoch"] == -1


def test_uuid_fields_decode_to_uuid() -> None:
    topic_id = uuid.uuid4()
    body = {"topics": [{"name": "t", "topic_id": topic_id}]}
    wire = encode_response(RequestHeader(ApiKey.METADATA, 12, 1, None), body)
    _, decoded = decode_response(ApiKey.METADATA, 12, wire[4:])
    assert decoded["topics"][0]["topic_id"] == topic_id
