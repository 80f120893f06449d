"""Timing: loading a group after 1,000,000 offset commits, before and after compaction.

Run by hand (not collected by pytest):
    python -m unit.coordinator.bench_replay   (with tests/ on the path)
"""

from __future__ import annotations

import time

from broker.coordinator.compaction import compact
from broker.coordinator.coordinator import GroupCoordinator
from broker.coordinator.formats import OffsetKey, OffsetValue, encode_key, encode_offset_value
from broker.coordinator.store import CoordinatorStore

COMMITS = 1_000_000
PARTITIONS = 100


def commit_log() -> list[tuple[bytes, bytes | None]]:
    """One group committing round-robin over PARTITIONS partitions of one topic."""
    keys = [encode_key(OffsetKey("bench-group", "events", p)) for p in range(PARTITIONS)]
    return [
        (keys[i % PARTITIONS], encode_offset_value(OffsetValue(i, 5, "", 1_700_000_000_000 + i)))
        for i in range(COMMITS)
    ]


def timed(label: str, fn) -> object:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    print(f"{label:58s} {time.perf_counter() - start:8.3f} s")
    return out


def main() -> None:
    records = timed(f"build {COMMITS:,} commit records", commit_log)
    assert isinstance(records, list)

    def apply_each() -> CoordinatorStore:
        store = CoordinatorStore()
        for key, value in records:
            store.apply(key, value)
        return store

    slow = timed("replay uncompacted, decoding every record", apply_each)
    bulk = timed("load uncompacted (last value per key, then decode)",
                 lambda: GroupCoordinator.load(records))
    kept = timed("compact", lambda: compact(records))
    assert isinstance(kept, list)
    print(f"compacted: {len(records):,} records -> {len(kept):,}")
    fast = timed("load compacted", lambda: GroupCoordinator.load(kept))
    assert isinstance(slow, CoordinatorStore) and isinstance(bulk, GroupCoordinator)
    assert isinstance(fast, GroupCoordinator)
    assert slow.snapshot() == bulk.store.snapshot() == fast.store.snapshot()


if __name__ == "__main__":
    main()
