"""murmur2 against the Java client's vectors and kafka-python's implementation."""

from __future__ import annotations

import random

import pytest
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from client.records import murmur2, murmur2_partition, partitioner


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (b"kafka", 0xD067CF64),
        (b"giberish123456789", 0x8F552B0C),
        (b"1234", 0x9FC97B14),
        (b"", 0x106E08D9),
    ],
)
def test_java_vectors(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected
    assert murmur2_partition(key, 1000) == (expected & 0x7FFFFFFF) % 1000


def test_agrees_with_kafka_python_on_random_keys() -> None:
    # lengths cover the plain word loop, the lane path, and keys past the precomputed formats
    rng = random.Random(2024)
    for _ in range(2000):
        key = rng.randbytes(rng.choice([rng.randrange(0, 40), rng.randrange(40, 400)]))
        theirs = kafka_python_murmur2(key) & 0xFFFFFFFF
        assert murmur2(key) == theirs, key
        assert murmur2(bytearray(key)) == theirs, key  # not remembered: computed again
        n = rng.randrange(1, 300)
        assert murmur2_partition(key, n) == (theirs & 0x7FFFFFFF) % n


def test_remembered_hashes_stay_right_when_the_memo_fills(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(partitioner, "MEMO_SIZE", 8)
    monkeypatch.setattr(partitioner, "_memo", {})
    keys = [b"key-%d" % (i % 20) for i in range(200)]
    assert [murmur2(k) for k in keys] == [kafka_python_murmur2(k) & 0xFFFFFFFF for k in keys]
    assert 0 < len(partitioner._memo) <= 8


def test_accepts_any_bytes_like() -> None:
    key = b"some-key-of-odd-length!!"
    assert murmur2(bytearray(key)) == murmur2(memoryview(key)) == murmur2(key)
    assert murmur2(memoryview(key).cast("I")) == murmur2(key)


def test_partition_count_must_be_positive() -> None:
    with pytest.raises(ValueError):
        murmur2_partition(b"k", 0)
