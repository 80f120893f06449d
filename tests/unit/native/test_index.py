"""Offset and time index search: C against the twins and against bisect."""

from __future__ import annotations

import bisect
import mmap
import random
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

import native
from native import twins

i64 = st.integers(-(2**63), 2**63 - 1)


def offset_index(keys: list[int], spare: int = 0) -> bytes:
    """Entries >I rel offset, >I position; ``spare`` zeroed slots as in a preallocated file."""
    return b"".join(struct.pack(">II", k, 4096 * i) for i, k in enumerate(keys)) + bytes(8 * spare)


def time_index(keys: list[int], spare: int = 0) -> bytes:
    return b"".join(struct.pack(">qI", k, i) for i, k in enumerate(keys)) + bytes(12 * spare)


def random_keys(n: int, low: int, high: int, seed: int) -> list[int]:
    """Sorted keys, some repeated; drawn from a seed (hypothesis is slow at long lists)."""
    rng = random.Random(seed)
    span = rng.choice([n // 2 + 1, high - low])  # dense (many duplicates) or sparse
    first = rng.randint(low, high - span)
    return sorted(rng.randint(first, first + span) for _ in range(n))


def expected(keys: list[int], target: int) -> int:
    return bisect.bisect_right(keys, target) - 1


# Sizes around the warm tail (1024 offset entries, 682 time entries in 8 KiB).
sizes = st.sampled_from([0, 1, 2, 3, 100, 681, 682, 683, 684, 1023, 1024, 1025, 1026, 2500])


@given(n=sizes, data=st.data(), spare=st.integers(0, 3), seed=st.integers(0, 2**32))
def test_offset_index(n: int, data: st.DataObject, spare: int, seed: int) -> None:
    keys = random_keys(n, 0, 2**32 - 1, seed)
    buf = offset_index(keys, spare)
    candidates = [
        data.draw(st.integers(-5, 2**32 + 5)),
        *(data.draw(st.sampled_from(keys)) + d for d in (-1, 0, 1) if keys),
    ]
    for target in candidates:
        slot = native.offset_index_lookup(buf, n, target)
        assert slot == twins.offset_index_lookup(buf, n, target) == expected(keys, target)


@given(n=sizes, data=st.data(), seed=st.integers(0, 2**32))
def test_time_index(n: int, data: st.DataObject, seed: int) -> None:
    keys = random_keys(n, -(2**63), 2**63 - 1, seed)
    buf = time_index(keys, data.draw(st.integers(0, 3)))
    candidates = [
        data.draw(i64),
        *(
            min(max(data.draw(st.sampled_from(keys)) + d, -(2**63)), 2**63 - 1)
            for d in (-1, 0, 1)
            if keys
        ),
    ]
    for target in candidates:
        slot = native.time_index_lookup(memoryview(buf), n, target)
        assert slot == twins.time_index_lookup(buf, n, target) == expected(keys, target)


def test_duplicates_find_the_last() -> None:
    keys = [5] * 3000
    assert native.offset_index_lookup(offset_index(keys), 3000, 5) == 2999
    assert native.time_index_lookup(time_index(keys), 3000, 5) == 2999
    assert native.time_index_lookup(time_index(keys), 3000, 4) == -1


def test_every_target_in_a_dense_index() -> None:
    keys = list(range(0, 6000, 3))
    buf = offset_index(keys)
    for target in range(-1, 6003):
        assert native.offset_index_lookup(buf, len(keys), target) == expected(keys, target)


@pytest.mark.parametrize("lookup", ["offset_index_lookup", "time_index_lookup"])
def test_bad_arguments(lookup: str) -> None:
    for module in (native, twins):
        function = getattr(module, lookup)
        with pytest.raises(ValueError):
            function(bytes(24), 4, 0)  # more entries than the buffer holds
        with pytest.raises(ValueError):
            function(bytes(24), -1, 0)
        with pytest.raises(TypeError):
            function("text", 0, 0)
        with pytest.raises(TypeError):
            function(bytes(24), 1, 1.0)
        with pytest.raises(ValueError):
            function(bytes(24), 1, 2**63)
        assert function(bytes(24), 0, 0) == -1


def test_lookup_over_an_mmap() -> None:
    keys = list(range(0, 30_000, 10))
    raw = offset_index(keys, spare=100)
    with mmap.mmap(-1, len(raw)) as mapped:  # as the storage maps preallocated index files
        mapped[:] = raw
        for target in (-1, 0, 9, 10, 29_990, 10**6):
            want = expected(keys, target)
            assert native.offset_index_lookup(mapped, len(keys), target) == want
            assert native.offset_index_lookup(memoryview(mapped), len(keys), target) == want
            assert twins.offset_index_lookup(mapped, len(keys), target) == want
