"""Which partition of ``__consumer_offsets`` holds a group: the rule Kafka brokers use.

Kafka takes Java's ``String.hashCode`` of the group id (31-based over UTF-16 code units,
wrapping at 32 bits), makes it non-negative with ``Utils.abs`` (``Math.abs``, except that
``Integer.MIN_VALUE`` maps to 0) and reduces it modulo the partition count.
"""

from __future__ import annotations

_INT_MIN = -(1 << 31)


def java_string_hash(text: str) -> int:
    """Java's ``String.hashCode`` of ``text`` as a signed 32-bit int."""
    units = text.encode("utf-16-be")
    h = 0
    for i in range(0, len(units), 2):
        h = (31 * h + ((units[i] << 8) | units[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(group_id: str, num_partitions: int) -> int:
    """The ``__consumer_offsets`` partition whose leader coordinates ``group_id``."""
    if num_partitions <= 0:
        raise ValueError(f"num_partitions must be positive, got {num_partitions}")
    h = java_string_hash(group_id)
    return (0 if h == _INT_MIN else abs(h)) % num_partitions
