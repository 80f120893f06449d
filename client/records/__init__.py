"""Record batch v2 for Kafka clients and brokers: build, decode, compress, partition.

Pure code, no I/O.  Building goes through the native record encoder; decoding
validates each batch (lengths, magic, CRC-32C, record count) with the native
scanner before parsing its records.  Every decoding failure is a RecordsError.
"""

from __future__ import annotations

from client.records.batch import RecordBatch, TimestampType, decode_batches
from client.records.builder import build_batch
from client.records.compression import Compression, compress, decompress
from client.records.control import build_control_batch
from client.records.errors import RecordsError
from client.records.partitioner import murmur2, murmur2_partition
from client.records.record import Record

__all__ = [
    "Compression",
    "Record",
    "RecordBatch",
    "RecordsError",
    "TimestampType",
    "build_batch",
    "build_control_batch",
    "compress",
    "decode_batches",
    "decompress",
    "murmur2",
    "murmur2_partition",
]
