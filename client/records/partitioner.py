"""The Java client's default key partitioner: murmur2 of the key bytes.

murmur2 here is the 32-bit MurmurHash2 as Kafka's Java ``Utils.murmur2``
computes it (seed 0x9747b28c, little-endian words).  It returns the hash as an
unsigned 32-bit int; Java returns the same 32 bits as a signed int.  The
partition, (hash & 0x7fffffff) % n, is identical either way.

The producer hashes every keyed record, so the work per key is kept small:

* words come out of the key in one ``struct`` call, and the 0-3 tail bytes are
  folded in with one ``int.from_bytes``;
* for keys of more than a few words, each word's own mixing (multiply, shift,
  xor, multiply) is done for all words at once on one big int holding a 64-bit
  lane per word: a lane's product with the 32-bit constant fits in its 64 bits,
  so lanes never carry into each other as long as each is cut back to 32 bits
  between steps.  Only the chaining into the running hash stays a Python loop;
* hashes of short ``bytes`` keys are remembered, since producers tend to reuse
  keys; the memo is cleared whenever it fills up.
"""

from __future__ import annotations

import struct

__all__ = ["murmur2", "murmur2_partition"]

SEED = 0x9747B28C
M = 0x5BD1E995
MASK = 0xFFFFFFFF

LANE_THRESHOLD = 6  # words; below it the plain loop is faster than the lane set-up
MEMO_KEY_LIMIT = 64  # bytes; longer keys are not remembered
MEMO_SIZE = 1 << 16

_PRECOMPUTED_WORDS = 64
_unpack_words = [struct.Struct(f"<{n}I").unpack_from for n in range(_PRECOMPUTED_WORDS + 1)]
_pack_lanes = [struct.Struct(f"<{n}Q").pack for n in range(_PRECOMPUTED_WORDS + 1)]
_unpack_lanes = [struct.Struct("<" + "I4x" * n).unpack for n in range(_PRECOMPUTED_WORDS + 1)]
_lane_masks = [
    int.from_bytes((b"\xff" * 4 + b"\x00" * 4) * n, "little")
    for n in range(_PRECOMPUTED_WORDS + 1)
]
_memo: dict[bytes, int] = {}


def _words(data: bytes | bytearray | memoryview, n: int) -> tuple[int, ...]:
    if n <= _PRECOMPUTED_WORDS:
        return _unpack_words[n](data)
    return struct.unpack_from(f"<{n}I", data)


def _mixed_words(data: bytes | bytearray | memoryview, n: int) -> tuple[int, ...]:
    """Every word k of ``data`` mixed as k *= m; k ^= k >> 24; k *= m (mod 2**32), at once."""
    if n <= _PRECOMPUTED_WORDS:
        lanes = _lane_masks[n]
        packed = _pack_lanes[n](*_unpack_words[n](data))
    else:
        lanes = int.from_bytes((b"\xff" * 4 + b"\x00" * 4) * n, "little")
        packed = struct.pack(f"<{n}Q", *struct.unpack_from(f"<{n}I", data))
    big = (int.from_bytes(packed, "little") * M) & lanes
    big = (((big ^ (big >> 24)) & lanes) * M) & lanes
    raw = big.to_bytes(8 * n, "little")
    if n <= _PRECOMPUTED_WORDS:
        return _unpack_lanes[n](raw)
    return struct.unpack("<" + "I4x" * n, raw)


def _hash(data: bytes | bytearray | memoryview) -> int:
    length = len(data)
    h = SEED ^ length
    n = length >> 2
    if n > LANE_THRESHOLD:
        for k in _mixed_words(data, n):
            h = ((h * M) ^ k) & MASK
    elif n:
        for k in _words(data, n):
            k = (k * M) & MASK
            # masking once after the xor gives the same low 32 bits as masking each product
            h = ((h * M) ^ ((k ^ (k >> 24)) * M)) & MASK
    if length & 3:
        h = ((h ^ int.from_bytes(data[n << 2 :], "little")) * M) & MASK
    h ^= h >> 13
    h = (h * M) & MASK
    return h ^ (h >> 15)


def murmur2(data: bytes | bytearray | memoryview) -> int:
    """MurmurHash2 of ``data`` as Kafka's Java client computes it, as an unsigned 32-bit int."""
    if type(data) is bytes:
        h = _memo.get(data)
        if h is None:
            h = _hash(data)
            if len(data) <= MEMO_KEY_LIMIT:
                if len(_memo) >= MEMO_SIZE:
                    _memo.clear()
                _memo[data] = h
        return h
    if isinstance(data, memoryview) and (data.ndim != 1 or data.itemsize != 1):
        data = data.cast("B")
    return _hash(data)


def murmur2_partition(key: bytes | bytearray | memoryview, num_partitions: int) -> int:
    """The partition the Java client's default partitioner picks for a non-null ``key``."""
    if num_partitions <= 0:
        raise ValueError(f"num_partitions must be positive, got {num_partitions}")
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions
