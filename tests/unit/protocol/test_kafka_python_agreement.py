"""Agreement with kafka-python 3.0, an independent implementation of the same protocol.

For every API and version we implement, in both directions: a body drawn from our schema is
built as a kafka-python message; both codecs must produce the same bytes (size prefix and
header included), and our decoder must read kafka-python's bytes back to the same body.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from kafka.protocol.schemas.fields.codecs.types import BitField

from client.protocol import (
    ApiKey,
    RequestHeader,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from unit.protocol.kafka_python_twins import KP
from unit.protocol.schema_bodies import (
    api_versions,
    body_strategy,
    kafka_fields,
    kafka_values,
    message_struct,
)

CLIENT_ID = "kafka-python-compat"
CORRELATION_ID = 0x1234567
CASES = list(api_versions())
IDS = [f"{api.name.lower()}-v{version}" for api, version in CASES]
EXAMPLES = max(4, settings.default.max_examples // 12)


def _as_bitfield(value: int) -> set[int] | None:
    # kafka-python models "authorized operations" int32s as a set of bit positions.
    bits = {b for b in range(32) if (value & 0xFFFFFFFF) >> b & 1}
    return None if bits == {31} else bits


def to_kafka_python(cls: Any, body: dict, version: int) -> Any:
    """Build kafka-python's message object holding the same values as our body dict."""
    fields = cls._struct.fields
    kwargs = {}
    for name, value in body.items():
        if name not in fields and name.endswith("authorized_operations"):
            name = "authorized_operations"
        field = fields[name]
        if getattr(field, "_type", None) is BitField:
            value = _as_bitfield(value)
        elif field.is_struct_array():
            value = (
                None
                if value is None
                else [to_kafka_python(field.data_class, v, version) for v in value]
            )
        elif field.is_struct():
            value = None if value is None else to_kafka_python(field.data_class, value, version)
        kwargs[name] = value
    return cls(version=version, **kwargs)


def test_every_api_has_a_kafka_python_twin() -> None:
    for api in ApiKey:
        assert (int(api), "request") in KP and (int(api), "response") in KP


@pytest.mark.parametrize(("api", "version"), CASES, ids=IDS)
def test_requests_match_kafka_python(api: ApiKey, version: int) -> None:
    @settings(max_examples=EXAMPLES)
    @given(body=body_strategy(kafka_fields(message_struct(api, True)), version))
    def check(body: dict) -> None:
        theirs = to_kafka_python(KP[(int(api), "request")], body, version)
        theirs.with_header(correlation_id=CORRELATION_ID, client_id=CLIENT_ID)
        their_bytes = bytes(theirs.encode(header=True, framed=True))
        assert encode_request(api, version, CORRELATION_ID, CLIENT_ID, body) == their_bytes
        header, decoded = decode_request(their_bytes[4:])
        assert header == RequestHeader(api, version, CORRELATION_ID, CLIENT_ID)
        assert kafka_values(decoded, message_struct(api, True)) == body

    check()


@pytest.mark.parametrize(("api", "version"), CASES, ids=IDS)
def test_responses_match_kafka_python(api: ApiKey, version: int) -> None:
    @settings(max_examples=EXAMPLES)
    @given(body=body_strategy(kafka_fields(message_struct(api, False)), version))
    def check(body: dict) -> None:
        theirs = to_kafka_python(KP[(int(api), "response")], body, version)
        theirs.with_header(correlation_id=CORRELATION_ID)
        their_bytes = bytes(theirs.encode(header=True, framed=True))
        header = RequestHeader(api, version, CORRELATION_ID, CLIENT_ID)
        assert encode_response(header, body) == their_bytes
        correlation_id, decoded = decode_response(api, version, their_bytes[4:])
        assert correlation_id == CORRELATION_ID
        assert kafka_values(decoded, message_struct(api, False)) == body

    check()


def test_kafka_python_reads_our_fetch_response_records() -> None:
    records = bytes(range(256)) * 8
    body = {
        "throttle_time_ms": 0,
        "error_code": 0,
        "session_id": 0,
        "responses": [
            {
                "topic": "t",
                "partitions": [
                    {
                        "partition_index": 3,
                        "error_code": 0,
                        "high_watermark": 42,
                        "last_stable_offset": 42,
                        "log_start_offset": 0,
                        "aborted_transactions": None,
                        "preferred_read_replica": -1,
                        "records": records,
                    }
                ],
            }
        ],
    }
    for version in (4, 11, 12):
        wire = encode_response(RequestHeader(ApiKey.FETCH, version, 9, None), body)
        decoded = KP[(1, "response")].decode(wire, version=version, header=True, framed=True)
        assert decoded.header.correlation_id == 9
        partition = decoded.responses[0].partitions[0]
        assert partition.high_watermark == 42
        assert bytes(partition.records) == records
