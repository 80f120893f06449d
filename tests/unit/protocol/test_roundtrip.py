"""Every API at every supported version, both directions: a body drawn from the schema
survives encode -> decode unchanged, with the header intact."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client.protocol import (
    RequestHeader,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    encode_response_chunks,
)
from unit.protocol.schema_bodies import api_versions, body_strategy, message_struct

CASES = list(api_versions())
IDS = [f"{api.name.lower()}-v{version}" for api, version in CASES]
# Many cases; each needs few examples to cover its handful of shapes.
EXAMPLES = max(5, settings.default.max_examples // 8)


@pytest.mark.parametrize(("api", "version"), CASES, ids=IDS)
def test_request_round_trip(api: int, version: int) -> None:
    @settings(max_examples=EXAMPLES)
    @given(
        body=body_strategy(message_struct(api, True), version),
        correlation_id=st.integers(-(2**31), 2**31 - 1),
        client_id=st.none() | st.text(max_size=10),
    )
    def check(body: dict, correlation_id: int, client_id: str | None) -> None:
        wire = encode_request(api, version, correlation_id, client_id, body)
        assert int.from_bytes(wire[:4], "big") == len(wire) - 4
        header, decoded = decode_request(wire[4:])
        assert header == RequestHeader(api, version, correlation_id, client_id)
        assert decoded == body

    check()


@pytest.mark.parametrize(("api", "version"), CASES, ids=IDS)
def test_response_round_trip(api: int, version: int) -> None:
    @settings(max_examples=EXAMPLES)
    @given(
        body=body_strategy(message_struct(api, False), version),
        correlation_id=st.integers(-(2**31), 2**31 - 1),
    )
    def check(body: dict, correlation_id: int) -> None:
        header = RequestHeader(api, version, correlation_id, "c")
        wire = encode_response(header, body)
        assert int.from_bytes(wire[:4], "big") == len(wire) - 4
        assert b"".join(encode_response_chunks(header, body)) == wire
        got_id, decoded = decode_response(api, version, wire[4:])
        assert got_id == correlation_id
        assert decoded == body

    check()
