"""FrameDecoder, table-driven: each case is fed whole, one byte at a time (answering "need
more" until the frame is complete), and followed by trailing bytes (left buffered)."""

from __future__ import annotations

import struct

import pytest

from client.protocol import FrameDecoder, FrameTooLargeError, ProtocolError

LIMIT = 64


def sized(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


# (wire bytes, expected frames); every case's bytes end exactly at a frame boundary.
GOOD = [
    (sized(b""), [b""]),
    (sized(b"x"), [b"x"]),
    (sized(b"hello"), [b"hello"]),
    (sized(bytes(range(LIMIT))), [bytes(range(LIMIT))]),
    (sized(b"ab") + sized(b"") + sized(b"cde"), [b"ab", b"", b"cde"]),
]


def drain(decoder: FrameDecoder) -> list[bytes]:
    frames = []
    while (frame := decoder.next_frame()) is not None:
        frames.append(bytes(frame))
    return frames


@pytest.mark.parametrize(("wire", "frames"), GOOD)
def test_whole(wire: bytes, frames: list[bytes]) -> None:
    decoder = FrameDecoder(LIMIT)
    decoder.receive_data(wire)
    assert drain(decoder) == frames
    assert decoder.buffered == 0


@pytest.mark.parametrize(("wire", "frames"), GOOD)
def test_byte_by_byte(wire: bytes, frames: list[bytes]) -> None:
    decoder = FrameDecoder(LIMIT)
    got: list[bytes] = []
    boundaries = set()
    pos = 0
    for frame in frames:
        pos += 4 + len(frame)
        boundaries.add(pos)
    for i in range(len(wire)):
        decoder.receive_data(wire[i : i + 1])
        new = drain(decoder)
        if i + 1 in boundaries:
            assert len(new) == 1
        else:
            assert new == []  # "need more" until the frame is complete
        got += new
    assert got == frames


@pytest.mark.parametrize(("wire", "frames"), GOOD)
def test_trailing_bytes_untouched(wire: bytes, frames: list[bytes]) -> None:
    decoder = FrameDecoder(LIMIT)
    trailing = b"\x00\x00\x00\x05abc"  # the start of a frame that has not fully arrived
    decoder.receive_data(wire + trailing)
    assert drain(decoder) == frames
    assert decoder.buffered == len(trailing)
    decoder.receive_data(b"de")
    assert drain(decoder) == [b"abcde"]


def test_frames_survive_later_data() -> None:
    decoder = FrameDecoder(LIMIT)
    decoder.receive_data(sized(b"first") + sized(b"sec"))
    first = decoder.next_frame()
    decoder.receive_data(sized(b"third"))
    assert first is not None and bytes(first) == b"first"
    assert drain(decoder) == [b"sec", b"third"]


@pytest.mark.parametrize("declared", [LIMIT + 1, 2**31 - 1, -1, -(2**31)])
def test_bad_declared_size_rejected_before_buffering(declared: int) -> None:
    decoder = FrameDecoder(LIMIT)
    with pytest.raises(FrameTooLargeError) as info:
        decoder.receive_data(struct.pack(">i", declared))
    assert info.value.declared_size == declared
    assert isinstance(info.value, ProtocolError)
    # The stream has lost its framing: the decoder stays failed and buffers nothing more.
    with pytest.raises(FrameTooLargeError):
        decoder.receive_data(b"x" * 100)
    with pytest.raises(FrameTooLargeError):
        decoder.next_frame()
    assert decoder.buffered == 4


def test_oversized_frame_after_a_good_one() -> None:
    # The good frame is still delivered; the bad size is reported when it reaches the head.
    decoder = FrameDecoder(LIMIT)
    decoder.receive_data(sized(b"ok") + struct.pack(">i", LIMIT + 1))
    assert bytes(decoder.next_frame() or b"") == b"ok"
    with pytest.raises(FrameTooLargeError):
        decoder.next_frame()


def test_a_frame_that_fills_the_buffer_is_handed_over_writable_and_independent() -> None:
    """A large frame is not copied: the decoder gives up its buffer, keeping only what follows
    (a partial next frame), so later data cannot disturb the frame nor the frame its buffer."""
    decoder = FrameDecoder(1 << 20)
    big = bytes(range(256)) * 1024
    decoder.receive_data(sized(big) + b"\x00\x00\x00\x03x")
    frame = decoder.next_frame()
    assert frame is not None and not frame.readonly and bytes(frame) == big
    assert decoder.buffered == 5
    frame[0:3] = b"\xff\xff\xff"  # a log patches offsets into fetched batches in place
    decoder.receive_data(b"yz" + sized(b"after"))
    assert drain(decoder) == [b"xyz", b"after"]
    assert bytes(frame[3:]) == big[3:]
