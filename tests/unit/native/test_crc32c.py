"""CRC-32C: hardware and table paths against the crc32c package and the twin."""

from __future__ import annotations

import array
import random

import crc32c as reference
import pytest
from hypothesis import given
from hypothesis import strategies as st

import native
from native import twins
from native._rillet import lib

MIB = 1 << 20
# Around the word size and the three-stream block boundaries (3 x 256, 3 x 8192).
EDGE_SIZES = [
    0,
    1,
    2,
    3,
    7,
    8,
    9,
    15,
    16,
    17,
    63,
    255,
    256,
    257,
    767,
    768,
    769,
    1000,
    4095,
    8191,
    8192,
    8193,
    24575,
    24576,
    24577,
    49152 + 771,
    65537,
    MIB - 1,
    MIB,
]


def software(data: bytes, crc: int = 0) -> int:
    return lib.rl_crc32c_sw(crc, data, len(data))


def test_check_value() -> None:
    assert native.crc32c(b"123456789") == 0xE3069283
    assert twins.crc32c(b"123456789") == 0xE3069283
    assert software(b"123456789") == 0xE3069283
    assert native.crc32c(b"") == 0


@pytest.mark.parametrize("size", EDGE_SIZES)
def test_edge_sizes_and_unaligned_slices(size: int) -> None:
    data = random.Random(size).randbytes(size + 8)
    for start in range(8):
        view = memoryview(data)[start : start + size]
        expected = reference.crc32c(bytes(view))
        assert native.crc32c(view) == expected
        assert software(bytes(view)) == expected


@given(size=st.integers(0, MIB), start=st.integers(0, 15), seed=st.integers(0, 2**32))
def test_random_sizes_up_to_one_mib(size: int, start: int, seed: int) -> None:
    data = random.Random(seed).randbytes(size + start)
    view = memoryview(data)[start:]
    expected = reference.crc32c(view)
    assert native.crc32c(view) == expected
    assert native.crc32c(bytearray(view)) == expected
    assert software(bytes(view)) == expected


@given(data=st.binary(max_size=3000), split=st.integers(0, 3000), crc=st.integers(0, 2**32 - 1))
def test_agrees_with_twin_and_continues(data: bytes, split: int, crc: int) -> None:
    assert native.crc32c(data, crc) == twins.crc32c(data, crc) == reference.crc32c(data, crc)
    head, tail = data[:split], data[split:]
    assert native.crc32c(tail, native.crc32c(head)) == native.crc32c(data)


def test_any_buffer_kind_is_read_as_bytes() -> None:
    ints = array.array("i", range(100))
    assert native.crc32c(ints) == twins.crc32c(ints) == reference.crc32c(ints.tobytes())


@pytest.mark.parametrize(
    ("data", "crc", "error"),
    [
        ("text", 0, TypeError),
        (None, 0, TypeError),
        (12, 0, TypeError),
        (b"x", -1, ValueError),
        (b"x", 2**32, ValueError),
        (b"x", 1.0, TypeError),
        (memoryview(b"abcdef")[::2], 0, ValueError),
    ],
)
def test_bad_arguments(data: object, crc: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        native.crc32c(data, crc)  # type: ignore[arg-type]
    with pytest.raises(error):
        twins.crc32c(data, crc)  # type: ignore[arg-type]
