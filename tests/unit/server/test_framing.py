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


BIG = [bytes(range(256)) * 1024, b"small", bytes(200_000)]  # 256 KiB, 5 B, ~195 KiB


def _feed(buf: FrameBuffer, wire: bytes, chunk: int, direct: bool) -> list[bytes]:
    """Deliver ``wire`` as a socket would: ``chunk`` bytes at most per read, into the frame's
    own buffer whenever the FrameBuffer offers one (when ``direct``)."""
    out: list[bytes] = []
    position = 0
    while position < len(wire):
        target = buf.receive_buffer() if direct else None
        if target is not None:
            n = min(chunk, len(target), len(wire) - position)
            target[:n] = wire[position : position + n]
            buf.received_into(n)
        else:
            n = min(chunk, len(wire) - position)
            buf.receive_data(wire[position : position + n])
        position += n
        out += _drain(buf)
    return out


@pytest.mark.parametrize("chunk", [1_000, 65_536, 300_000, 10_000_000])
@pytest.mark.parametrize("direct", [True, False])
def test_large_frames_arrive_whole_however_they_are_received(chunk: int, direct: bool) -> None:
    buf = FrameBuffer(1 << 20)
    assert _feed(buf, _wire(BIG * 2), chunk, direct) == BIG * 2
    assert buf.buffered == 0 and buf.receive_buffer() is None


def test_a_large_frame_is_received_into_a_buffer_of_its_size_and_handed_over() -> None:
    buf = FrameBuffer(1 << 20)
    body = bytes(range(256)) * 1024
    wire = _wire([body])
    buf.receive_data(wire[:10])
    target = buf.receive_buffer()
    assert target is not None and len(target) == len(wire) - 10, "exactly what is missing"
    assert buf.wanted() == len(target) and buf.buffered == 10
    target[: len(target)] = wire[10:]
    buf.received_into(len(target))
    frame = buf.next_frame()
    assert frame is not None and bytes(frame) == body and not frame.readonly
    assert frame.obj is target.obj, "the frame is the buffer it was received into: no copy"


def test_small_frames_and_unknown_sizes_get_no_buffer_of_their_own() -> None:
    buf = FrameBuffer(1 << 20)
    assert buf.receive_buffer() is None, "no prefix yet"
    buf.receive_data(struct.pack(">i", 1_000))
    assert buf.receive_buffer() is None, "a small frame goes through receive_data"


def test_bytes_given_to_receive_data_during_a_large_frame_finish_it_and_start_the_next() -> None:
    buf = FrameBuffer(1 << 20)
    wire = _wire([BIG[0], b"next"])
    buf.receive_data(wire[:100])
    assert buf.receive_buffer() is not None
    buf.receive_data(wire[100:])
    assert _drain(buf) == [BIG[0], b"next"]
