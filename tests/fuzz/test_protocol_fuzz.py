"""Hostile input for the request decoder.

100,000 frames — random bytes and mutations of valid requests of every API and version
(bit flips, truncations, huge lengths and counts written over or into the frame, spliced
regions) — must each decode or raise ProtocolError, nothing else. Frames that declare
2^31-1 elements or bytes must be rejected without memory beyond a small multiple of the
frame.
"""

from __future__ import annotations

import random
import struct
import tracemalloc

import pytest

from client.protocol import ApiKey, ProtocolError, decode_request, encode_request
from unit.protocol.schema_bodies import api_versions, message_struct, random_body

FRAMES = 100_000
SEED = 20240611

_HUGE_VALUES = (
    struct.pack(">i", 2**31 - 1),
    struct.pack(">i", -2),
    struct.pack(">h", 32767),
    struct.pack(">h", -2),
    b"\xff\xff\xff\xff\x0f",  # unsigned varint 2^32-1
    b"\xfe\xff\xff\xff\x07",  # unsigned varint 2^31-2
    b"\xff" * 11,  # an unterminated varint
)


def _seeds(rng: random.Random) -> list[bytes]:
    seeds = []
    for api, version in api_versions():
        for _ in range(2):
            body = random_body(message_struct(api, True), version, rng)
            seeds.append(encode_request(api, version, rng.randrange(2**31), "fz", body)[4:])
    return seeds


def _mutate(seed: bytes, rng: random.Random) -> bytes:
    frame = bytearray(seed)
    # Mutate mostly past the fixed 8-byte prefix so the body decoders are reached.
    low = 8 if len(frame) > 8 and rng.random() < 0.9 else 0
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        kind = rng.randrange(6)
        at = rng.randrange(low, max(low + 1, len(frame)))
        if kind == 0:  # bit flips
            for _ in range(rng.randrange(1, 4)):
                i = rng.randrange(low, max(low + 1, len(frame)))
                if i < len(frame):
                    frame[i] ^= 1 << rng.randrange(8)
        elif kind == 1:  # truncation
            del frame[at:]
        elif kind == 2:  # huge length or count written over the frame
            frame[at : at + 4] = rng.choice(_HUGE_VALUES)
        elif kind == 3:  # huge length or count inserted
            frame[at:at] = rng.choice(_HUGE_VALUES)
        elif kind == 4:  # random bytes over a region
            frame[at : at + rng.randrange(1, 9)] = rng.randbytes(rng.randrange(1, 9))
        else:  # duplicate a region somewhere else
            end = min(len(frame), at + rng.randrange(1, 32))
            where = rng.randrange(low, max(low + 1, len(frame)))
            frame[where:where] = frame[at:end]
    return bytes(frame)


def test_decoder_raises_only_protocol_errors() -> None:
    rng = random.Random(SEED)
    seeds = _seeds(rng)
    outcomes = {"decoded": 0, "rejected": 0}
    for i in range(FRAMES):
        if i % 10 == 0:
            frame = rng.randbytes(rng.randrange(40))
        else:
            frame = _mutate(rng.choice(seeds), rng)
        try:
            decode_request(frame)
        except ProtocolError:
            outcomes["rejected"] += 1
        else:
            outcomes["decoded"] += 1
    # Both paths were exercised: the mutations are neither all harmless nor all fatal.
    assert outcomes["rejected"] > FRAMES // 4
    assert outcomes["decoded"] > FRAMES // 100


def _prefix(api: ApiKey, version: int, flexible_header: bool) -> bytes:
    header = struct.pack(">hhih", api, version, 1, -1)
    return header + (b"\x00" if flexible_header else b"")


PADDING = b"\x00" * 16384  # below the int16 string limit, so every case is a lie
HUGE_FRAMES = {
    "array of 2^31-1 topics": _prefix(ApiKey.METADATA, 1, False) + struct.pack(">i", 2**31 - 1),
    "compact array of 2^31-1 topics": _prefix(ApiKey.METADATA, 9, True) + b"\x80\x80\x80\x80\x08",
    "array of 2^31-1 group names": _prefix(ApiKey.DELETE_GROUPS, 0, False)
    + struct.pack(">i", 2**31 - 1),
    "bytes of 2^31-1": _prefix(ApiKey.SASL_AUTHENTICATE, 0, False) + struct.pack(">i", 2**31 - 1),
    "records of 2^31-1": _prefix(ApiKey.PRODUCE, 3, False)
    + struct.pack(">hhiih", -1, 1, 100, 1, 1) + b"t" + struct.pack(">iii", 1, 0, 2**31 - 1),
    "compact string of 2^31-1": _prefix(ApiKey.API_VERSIONS, 3, True) + b"\x80\x80\x80\x80\x08",
    "string of 32767": _prefix(ApiKey.SASL_HANDSHAKE, 0, False) + struct.pack(">h", 32767),
}


@pytest.mark.parametrize("name", list(HUGE_FRAMES))
def test_huge_declarations_stay_small(name: str) -> None:
    frame = HUGE_FRAMES[name] + PADDING
    decode_request(b"\x00\x12\x00\x00\x00\x00\x00\x01\xff\xff")  # warm caches outside the trace
    try:
        decode_request(frame)
    except ProtocolError:
        pass
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError):
            decode_request(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * len(frame)
