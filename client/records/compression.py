"""Compression codecs of record batch v2: gzip, snappy, lz4 and zstd.

A batch compresses its records section as one block; the codec id sits in bits
0-2 of the batch attributes.  Each codec writes what the Java client writes, so
every consumer can read our batches, and reads what any client in use writes:

* gzip: a gzip member (RFC 1952) at zlib's default level, as Java's
  GZIPOutputStream; input may hold several members.
* snappy: written in the xerial block framing (below); read framed or raw.
* lz4: the standard LZ4 frame format with independent 64 KiB blocks, no block
  or content checksum and no content size, the settings the Java client uses;
  any valid frame is read (librdkafka stores the content size, for example).
* zstd: one frame at level 3 (the broker's default); frames without a content
  size (Java's streaming writer) and several concatenated frames are read.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from enum import IntEnum

import cramjam
import lz4.frame
import zstandard

from client.records.errors import RecordsError

__all__ = ["Compression", "compress", "decompress"]


class Compression(IntEnum):
    """Codec ids as stored in bits 0-2 of a batch's attributes."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


# xerial snappy-java's stream header: 8 magic bytes, then version and minimum
# compatible version as big-endian int32 (both 1).  Blocks follow, each a
# big-endian int32 length and one raw snappy block of at most 32 KiB input.
XERIAL_MAGIC = b"\x82SNAPPY\x00"
XERIAL_HEADER = XERIAL_MAGIC + struct.pack(">ii", 1, 1)
XERIAL_BLOCK_SIZE = 32 * 1024
_BLOCK_LENGTH = struct.Struct(">i")

ZSTD_LEVEL = 3
_zstd_compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
_zstd_decompressor = zstandard.ZstdDecompressor()

Buffer = bytes | bytearray | memoryview


def _codec(codec: int) -> Compression:
    try:
        return Compression(codec)
    except ValueError:
        raise RecordsError(f"unknown compression codec {codec}") from None


def compress(codec: int, data: Buffer) -> bytes:
    """``data`` compressed with ``codec`` (a Compression value) as a batch's records block."""
    codec = _codec(codec)
    if codec is Compression.NONE:
        return bytes(data)
    if codec is Compression.GZIP:
        # zlib with wbits=31 writes one gzip member, the same bytes gzip.compress would
        # give at this level, without its per-call header bookkeeping.
        packer = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 31)
        return packer.compress(data) + packer.flush()
    if codec is Compression.SNAPPY:
        return _snappy_xerial(data)
    if codec is Compression.LZ4:
        return lz4.frame.compress(
            data,
            block_size=lz4.frame.BLOCKSIZE_MAX64KB,
            block_linked=False,
            content_checksum=False,
            store_size=False,
        )
    return _zstd_compressor.compress(data)


def _snappy_xerial(data: Buffer) -> bytes:
    # Framed rather than raw because the Java client, kafka-python and aiokafka
    # all write the xerial framing and every reader (librdkafka included) accepts
    # it, while a raw block is what only librdkafka writes; the 32 KiB blocks also
    # keep each compressor call small.  Java's xerial reader accepts both as well.
    view = memoryview(data)
    parts = [XERIAL_HEADER]
    pack = _BLOCK_LENGTH.pack
    compress_raw = cramjam.snappy.compress_raw
    for start in range(0, len(view), XERIAL_BLOCK_SIZE):
        block = bytes(compress_raw(view[start : start + XERIAL_BLOCK_SIZE]))
        parts.append(pack(len(block)))
        parts.append(block)
    return b"".join(parts)


def decompress(codec: int, data: Buffer) -> bytes:
    """The records block ``data`` decompressed with ``codec``; RecordsError if it is invalid.

    Snappy input may be a raw snappy block or xerial-framed (detected by its magic).
    """
    codec = _codec(codec)
    try:
        if codec is Compression.NONE:
            return bytes(data)
        if not len(data):
            raise RecordsError("no data: even an empty input compresses to a few bytes")
        if codec is Compression.GZIP:
            return gzip.decompress(data)
        if codec is Compression.SNAPPY:
            return _snappy_decompress(memoryview(data))
        if codec is Compression.LZ4:
            return _lz4_decompress(data)
        return _zstd_decompress(data)
    except RecordsError:
        raise
    except Exception as exc:  # each codec library has its own error types
        raise RecordsError(f"invalid {codec.name.lower()} data: {exc}") from None


def _snappy_decompress(view: memoryview) -> bytes:
    if view[: len(XERIAL_MAGIC)] != XERIAL_MAGIC:
        return bytes(cramjam.snappy.decompress_raw(view))
    # The version fields after the magic are not checked: some writers store them
    # little-endian, and the block layout is the same either way.
    parts = []
    pos = len(XERIAL_HEADER)
    end = len(view)
    decompress_raw = cramjam.snappy.decompress_raw
    while pos < end:
        if end - pos < 4:
            raise RecordsError(f"xerial snappy: truncated block length at byte {pos}")
        (length,) = _BLOCK_LENGTH.unpack_from(view, pos)
        pos += 4
        if length < 0 or length > end - pos:
            raise RecordsError(f"xerial snappy: block length {length} at byte {pos - 4}")
        parts.append(bytes(decompress_raw(view[pos : pos + length])))
        pos += length
    return b"".join(parts)


def _lz4_decompress(data: Buffer) -> bytes:
    context = lz4.frame.create_decompression_context()
    out, read, eof = lz4.frame.decompress_chunk(context, data)
    if not eof or read != len(data):
        raise RecordsError("lz4: truncated frame or trailing bytes")
    return out


def _zstd_decompress(data: Buffer) -> bytes:
    try:
        # the common case: one frame that states its content size
        return _zstd_decompressor.decompress(data, allow_extra_data=False)
    except zstandard.ZstdError:
        pass
    parts = []
    rest = bytes(data)
    while rest:
        reader = _zstd_decompressor.decompressobj()
        parts.append(reader.decompress(rest))
        if not reader.eof:
            raise RecordsError("zstd: truncated frame")
        rest = reader.unused_data
    return b"".join(parts)
