"""The Java client's default key partitioner: murmur2 of the key bytes.

murmur2 here is the 32-bit MurmurHash2 as Kafka's Java ``Utils.murmur2``
computes it (seed 0x9747b28c, little-endian words).  It returns the hash as an
unsigned 32-bit int; Java returns the same 32 bits as a signed int.  The
partition, (hash & 0x7fffffff) % n, is identical either way.

The producer hashes every keyed record, so the word loop is kept tight: words
come from ``struct.iter_unpack`` in C, each step is a handful of int operations,
and the 0-3 tail bytes are folded in with one ``int.from_bytes``.
"""

from __future__ import annotations

import struct

__all__ = ["murmur2", "murmur2_partition"]

SEED = 0x9747B28C
M = 0x5BD1E995
MASK = 0xFFFFFFFF

_words = struct.Struct("<I").iter_unpack


def murmur2(data: bytes | bytearray | memoryview) -> int:
    """MurmurHash2 of ``data`` as Kafka's Java client computes it, as an unsigned 32-bit int."""
    length = len(data)
    h = SEED ^ length
    whole = length & ~3
    if whole:
        view = data if whole == length else memoryview(data)[:whole]
        for (k,) in _words(view):
            k = (k * M) & MASK
            h = ((h * M) & MASK) ^ (((k ^ (k >> 24)) * M) & MASK)
    if length != whole:
        h = ((h ^ int.from_bytes(data[whole:], "little")) * M) & MASK
    h ^= h >> 13
    h = (h * M) & MASK
    return h ^ (h >> 15)


def murmur2_partition(key: bytes | bytearray | memoryview, num_partitions: int) -> int:
    """The partition the Java client's default partitioner picks for a non-null ``key``."""
    if num_partitions <= 0:
        raise ValueError(f"num_partitions must be positive, got {num_partitions}")
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions
