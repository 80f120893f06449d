"""The compaction rule for ``__consumer_offsets``, shared with the storage cleaner.

A compacted log keeps, for each key, only its last record, at that record's place in offset
order. A tombstone (null value) is kept until it is older than ``delete.retention.ms`` so that
readers who loaded the older value still see the deletion; after that it is dropped too.
Replaying the kept records leaves the same state as replaying all of them, because replay is
"the last value per key wins" and a tombstone means the same as an absent key.
"""

from __future__ import annotations

from collections.abc import Iterable

Record = tuple[bytes, bytes | None]
TimedRecord = tuple[bytes, bytes | None, int]


def compact(records: Iterable[Record], *, drop_tombstones: bool = False) -> list[Record]:
    """The records a compacted log keeps, in their original order.

    ``drop_tombstones`` drops every surviving tombstone, as a cleaner does once they are past
    ``delete.retention.ms``; use ``compact_timed`` to decide that per record.
    """
    last: dict[bytes, int] = {}
    items = list(records)
    for i, (key, _value) in enumerate(items):
        last[key] = i
    keep = sorted(last.values())
    if drop_tombstones:
        return [items[i] for i in keep if items[i][1] is not None]
    return [items[i] for i in keep]


def compact_timed(
    records: Iterable[TimedRecord], *, now_ms: int, delete_retention_ms: int
) -> list[TimedRecord]:
    """Like ``compact`` for (key, value, timestamp) records: a surviving tombstone is dropped
    once ``timestamp + delete_retention_ms <= now_ms``."""
    last: dict[bytes, int] = {}
    items = list(records)
    for i, (key, _value, _ts) in enumerate(items):
        last[key] = i
    horizon = now_ms - delete_retention_ms
    out = []
    for i in sorted(last.values()):
        key, value, ts = items[i]
        if value is None and ts <= horizon:
            continue
        out.append(items[i])
    return out
