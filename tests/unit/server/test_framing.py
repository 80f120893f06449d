"""FrameBuffer: whole, byte by byte, with trailing bytes, and the size check on the prefix."""

from __future__ import annotations

import struct

import pytest

from broker.server.framing import FrameBuffer, OversizedFrame

FRAMES = [b"", b"a", b"hello world", bytes(range(256)) * 3]


def _wire(frames: list[bytes]) -> bytes:
    return b"".join(struct.pack(">i", len(f)) + f for f in frames)


def _drain(buf: FrameBuffer) -> list[bytes]:
    out = []
    while (frame := buf.next_frame()) is not None:
        out.append(bytes(frame))
    return out


def test_whole_stream_at_once() -> None:
    buf = FrameBuffer(10_000)
    buf.receive_data(_wire(FRAMES))
    assert _drain(buf) == FRAMES
    assert buf.buffered == 0


def test_byte_by_byte_needs_more_until_complete() -> None:
    buf = FrameBuffer(10_000)
    got: list[bytes] = []
    data = _wire(FRAMES)
    for i in range(len(data)):
        buf.receive_data(data[i : i + 1])
        got.extend(_drain(buf))
    assert got == FRAMES


def test_trailing_bytes_stay_for_the_next_frame() -> None:
    buf = FrameBuffer(10_000)
    buf.receive_data(_wire([b"first"]) + b"\x00\x00")
    assert _drain(buf) == [b"first"]
    assert buf.buffered == 2
    assert buf.wanted() == 2
    buf.receive_data(b"\x00\x03ab")
    assert buf.next_frame() is None
    assert buf.wanted() == 1
    buf.receive_data(b"c")
    assert _drain(buf) == [b"abc"]


def test_frames_handed_out_are_not_changed_by_later_data() -> None:
    buf = FrameBuffer(10_000)
    buf.receive_data(_wire([b"one"]))
    first = buf.next_frame()
    buf.receive_data(_wire([b"two"]))
    assert bytes(buf.next_frame() or b"") == b"two"
    assert bytes(first or b"") == b"one"


@pytest.mark.parametrize("size", [10_001, -1, 2**31 - 1])
def test_size_is_checked_from_the_prefix_alone(size: int) -> None:
    buf = FrameBuffer(10_000)
    buf.receive_data(struct.pack(">i", size))
    with pytest.raises(OversizedFrame) as info:
        buf.next_frame()
    assert info.value.size == size


def test_a_frame_of_exactly_the_limit_is_accepted() -> None:
    buf = FrameBuffer(100)
    buf.receive_data(_wire([b"x" * 100]))
    assert _drain(buf) == [b"x" * 100]


def test_has_frame_says_whether_next_frame_would_return_one() -> None:
    data = struct.pack(">i", 3) + b"abc" + struct.pack(">i", 2) + b"x"
    frames = FrameBuffer(100)
    seen = []
    for byte in data:
        frames.receive_data(bytes([byte]))
        seen.append(frames.has_frame())
        if seen[-1]:
            assert bytes(frames.next_frame()) == b"abc"  # type: ignore[arg-type]
        assert not frames.has_frame()
    assert seen == [False] * 6 + [True] + [False] * 5
    oversized = FrameBuffer(100)
    oversized.receive_data(struct.pack(">i", 101))
    assert oversized.has_frame(), "next_frame would raise: the reader must get to it"


def test_frames_are_writable_however_they_arrived() -> None:
    # Appends patch offsets into the records in place; a read-only frame would be copied again.
    buf = FrameBuffer(10_000)
    buf.receive_data(_wire([b"one", b"two"]) + _wire([b"thr"])[:5])
    first, second = buf.next_frame(), buf.next_frame()
    assert first is not None and second is not None
    assert not first.readonly and not second.readonly
    first[0:1] = b"O"
    buf.receive_data(_wire([b"thr"])[5:])
    assert bytes(buf.next_frame() or b"") == b"thr"
    assert (bytes(first), bytes(second)) == (b"One", b"two")
