"""Codec details other clients depend on: snappy framings, lz4 frame flags, zstd frames."""

from __future__ import annotations

import gzip
import struct

import cramjam
import kafka.codec
import lz4.frame
import pytest
import zstandard
from aiokafka import codec as aiokafka_codec

from client.records import Compression, RecordsError, compress, decompress

DATA = b"".join(b"record %d with some repeated text; " % i for i in range(5000))  # ~180 KB
XERIAL_MAGIC = bytes.fromhex("82534e4150505900")


@pytest.mark.usefixtures("kafka_python_snappy")
def test_snappy_reads_xerial_as_kafka_python_writes_it() -> None:
    framed = kafka.codec.snappy_encode(DATA)
    assert framed.startswith(XERIAL_MAGIC)
    assert decompress(Compression.SNAPPY, framed) == DATA


def test_snappy_reads_xerial_as_aiokafka_writes_it() -> None:
    assert decompress(Compression.SNAPPY, aiokafka_codec.snappy_encode(DATA)) == DATA


def test_snappy_reads_a_raw_block_as_librdkafka_writes_it() -> None:
    raw = bytes(cramjam.snappy.compress_raw(DATA))
    assert not raw.startswith(XERIAL_MAGIC)
    assert decompress(Compression.SNAPPY, raw) == DATA


@pytest.mark.usefixtures("kafka_python_snappy")
def test_snappy_writes_xerial_that_other_clients_read() -> None:
    ours = compress(Compression.SNAPPY, DATA)
    assert ours[:16] == XERIAL_MAGIC + struct.pack(">ii", 1, 1)
    assert kafka.codec.snappy_decode(ours) == DATA
    assert aiokafka_codec.snappy_decode(ours) == DATA
    # blocks of at most 32 KiB input, each a raw snappy block behind an int32 length
    pos, blocks = 16, []
    while pos < len(ours):
        (length,) = struct.unpack_from(">i", ours, pos)
        blocks.append(bytes(cramjam.snappy.decompress_raw(ours[pos + 4 : pos + 4 + length])))
        pos += 4 + length
    assert b"".join(blocks) == DATA and max(map(len, blocks)) == 32 * 1024


def test_snappy_ignores_little_endian_xerial_versions() -> None:
    block = bytes(cramjam.snappy.compress_raw(DATA[:1000]))
    framed = XERIAL_MAGIC + struct.pack("<ii", 1, 1) + struct.pack(">i", len(block)) + block
    assert decompress(Compression.SNAPPY, framed) == DATA[:1000]


def test_lz4_writes_the_java_client_frame() -> None:
    frame = compress(Compression.LZ4, DATA)
    assert frame[:4] == bytes.fromhex("04224d18")
    flags, block_descriptor = frame[4], frame[5]
    assert flags >> 6 == 0b01  # frame version
    assert flags & 0x20  # independent blocks
    assert not flags & 0x1F  # no block checksum, content size, content checksum or dictionary
    assert block_descriptor == 0x40  # 64 KiB maximum block size
    assert kafka.codec.lz4_decode(frame) == DATA
    assert aiokafka_codec.lz4_decode(frame) == DATA


def test_lz4_reads_frames_with_content_size_and_checksum() -> None:
    frame = lz4.frame.compress(DATA, store_size=True, content_checksum=True, block_linked=False)
    assert decompress(Compression.LZ4, frame) == DATA


def test_zstd_reads_frames_without_content_size_and_several_frames() -> None:
    streamed = zstandard.ZstdCompressor(write_content_size=False).compress(DATA)
    assert decompress(Compression.ZSTD, streamed) == DATA
    two = zstandard.ZstdCompressor().compress(b"first") + streamed
    assert decompress(Compression.ZSTD, two) == b"first" + DATA
    assert kafka.codec.zstd_decode(compress(Compression.ZSTD, DATA)) == DATA


def test_gzip_reads_several_members_and_writes_one() -> None:
    assert decompress(Compression.GZIP, gzip.compress(b"a") + gzip.compress(b"b")) == b"ab"
    assert kafka.codec.gzip_decode(compress(Compression.GZIP, DATA)) == DATA


@pytest.mark.parametrize("codec", list(Compression)[1:], ids=lambda c: c.name)
def test_damaged_compressed_data_raises_records_error(codec: Compression) -> None:
    good = compress(codec, DATA)
    for bad in (good[: len(good) // 2], good[:-1], b"\x00" * 40, b""):
        with pytest.raises(RecordsError):
            decompress(codec, bad)


@pytest.mark.parametrize("codec", [5, 6, 7, -1])
def test_unknown_codec_raises_records_error(codec: int) -> None:
    with pytest.raises(RecordsError):
        decompress(codec, b"data")
    with pytest.raises(RecordsError):
        compress(codec, b"data")
