"""Kafka's binary key/value formats for records in ``__consumer_offsets``.

Every field is big-endian; strings are an int16 length then UTF-8 (length -1 = null), bytes
are an int32 length then the bytes (-1 = null). Each key and value starts with an int16
version. What we write, so Kafka's own tools can read it:

* offset commit key, version 1: group string | topic string | partition int32
  (version 0 has the same layout and is read too)
* group metadata key, version 2: group string
* offset commit value, version 3: offset int64 | leader epoch int32 | metadata string |
  commit timestamp int64 (versions 0-2 are read too)
* group metadata value, version 3: protocol type string | generation int32 | protocol
  nullable string | leader nullable string | current state timestamp int64 | member count
  int32, then per member: member id string | group instance id nullable string | client id
  string | client host string | rebalance timeout int32 | session timeout int32 |
  subscription bytes | assignment bytes (versions 0-2 are read too)

A null value is a tombstone: the key's earlier values no longer count. Key versions above 2
belong to record types this coordinator does not keep; ``decode_key`` returns None for them.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

OFFSET_KEY_VERSION = 1
GROUP_KEY_VERSION = 2
OFFSET_VALUE_VERSION = 3
GROUP_VALUE_VERSION = 3

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_OFFSET_VALUE_V3_HEAD = struct.Struct(">hqi")  # version, offset, leader epoch


class RecordFormatError(ValueError):
    """A key or value in ``__consumer_offsets`` that does not parse."""


class OffsetKey(NamedTuple):
    """The key of a committed offset: one partition of one topic for one group."""

    group: str
    topic: str
    partition: int


class GroupKey(NamedTuple):
    """The key of a group's metadata."""

    group: str


class OffsetValue(NamedTuple):
    """A committed offset as stored; ``leader_epoch`` is -1 when the client gave none."""

    offset: int
    leader_epoch: int
    metadata: str
    commit_timestamp: int


class StoredMember(NamedTuple):
    """One member of a generation as stored in the group metadata value."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    subscription: bytes
    assignment: bytes


class GroupValue(NamedTuple):
    """A group's metadata as stored: the generation and, for each member, what it got."""

    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    current_state_timestamp: int
    members: tuple[StoredMember, ...]


def _string(text: str | None) -> bytes:
    if text is None:
        return _I16.pack(-1)
    raw = text.encode()
    if len(raw) > 0x7FFF:
        raise RecordFormatError(f"string of {len(raw)} bytes does not fit an int16 length")
    return _I16.pack(len(raw)) + raw


def _bytes(data: bytes | None) -> bytes:
    if data is None:
        return _I32.pack(-1)
    return _I32.pack(len(data)) + bytes(data)


def encode_key(key: OffsetKey | GroupKey) -> bytes:
    """The bytes of an offset key (version 1) or a group metadata key (version 2)."""
    if isinstance(key, OffsetKey):
        return b"".join(
            (
                _I16.pack(OFFSET_KEY_VERSION),
                _string(key.group),
                _string(key.topic),
                _I32.pack(key.partition),
            )
        )
    return _I16.pack(GROUP_KEY_VERSION) + _string(key.group)


def encode_offset_value(value: OffsetValue) -> bytes:
    """The bytes of a committed offset, value version 3."""
    return b"".join(
        (
            _OFFSET_VALUE_V3_HEAD.pack(OFFSET_VALUE_VERSION, value.offset, value.leader_epoch),
            _string(value.metadata),
            _I64.pack(value.commit_timestamp),
        )
    )


def encode_group_value(value: GroupValue) -> bytes:
    """The bytes of a group's metadata, value version 3."""
    parts = [
        _I16.pack(GROUP_VALUE_VERSION),
        _string(value.protocol_type),
        _I32.pack(value.generation),
        _string(value.protocol),
        _string(value.leader),
        _I64.pack(value.current_state_timestamp),
        _I32.pack(len(value.members)),
    ]
    for m in value.members:
        parts += (
            _string(m.member_id),
            _string(m.group_instance_id),
            _string(m.client_id),
            _string(m.client_host),
            _I32.pack(m.rebalance_timeout_ms),
            _I32.pack(m.session_timeout_ms),
            _bytes(m.subscription),
            _bytes(m.assignment),
        )
    return b"".join(parts)


class _Reader:
    """Reads big-endian fields from a buffer, failing with the field and position."""

    __slots__ = ("buf", "pos", "what")

    def __init__(self, buf: bytes, what: str) -> None:
        self.buf = buf
        self.pos = 0
        self.what = what

    def _take(self, s: struct.Struct, field: str) -> int:
        if self.pos + s.size > len(self.buf):
            raise RecordFormatError(
                f"{self.what}: {field} at byte {self.pos} needs {s.size} bytes, "
                f"{len(self.buf) - self.pos} remain"
            )
        (v,) = s.unpack_from(self.buf, self.pos)
        self.pos += s.size
        return v

    def i16(self, field: str) -> int:
        return self._take(_I16, field)

    def i32(self, field: str) -> int:
        return self._take(_I32, field)

    def i64(self, field: str) -> int:
        return self._take(_I64, field)

    def _span(self, n: int, field: str) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise RecordFormatError(
                f"{self.what}: {field} at byte {self.pos} declares {n} bytes, "
                f"{len(self.buf) - self.pos} remain"
            )
        out = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return out

    def nullable_string(self, field: str) -> str | None:
        n = self.i16(field)
        if n == -1:
            return None
        try:
            return self._span(n, field).decode()
        except UnicodeDecodeError as exc:
            raise RecordFormatError(f"{self.what}: {field} is not UTF-8") from exc

    def string(self, field: str) -> str:
        s = self.nullable_string(field)
        if s is None:
            raise RecordFormatError(f"{self.what}: {field} is null")
        return s

    def nullable_bytes(self, field: str) -> bytes | None:
        n = self.i32(field)
        return None if n == -1 else self._span(n, field)

    def version(self, highest: int) -> int:
        v = self.i16("version")
        if v < 0 or v > highest:
            raise RecordFormatError(f"{self.what}: version {v} is not one of 0..{highest}")
        return v


def decode_key(buf: bytes) -> OffsetKey | GroupKey | None:
    """Parse a key; None for record types this coordinator does not keep (versions > 2)."""
    r = _Reader(buf, "key")
    version = r.i16("version")
    if version in (0, 1):
        return OffsetKey(r.string("group"), r.string("topic"), r.i32("partition"))
    if version == 2:
        return GroupKey(r.string("group"))
    if version < 0:
        raise RecordFormatError(f"key: negative version {version}")
    return None


def decode_offset_value(buf: bytes) -> OffsetValue:
    """Parse a committed offset value, versions 0-3."""
    r = _Reader(buf, "offset value")
    version = r.version(OFFSET_VALUE_VERSION)
    offset = r.i64("offset")
    epoch = r.i32("leader epoch") if version >= 3 else -1
    metadata = r.nullable_string("metadata") or ""
    timestamp = r.i64("commit timestamp")
    if version == 1:
        r.i64("expire timestamp")
    return OffsetValue(offset, epoch, metadata, timestamp)


def decode_group_value(buf: bytes) -> GroupValue:
    """Parse a group metadata value, versions 0-3."""
    r = _Reader(buf, "group value")
    version = r.version(GROUP_VALUE_VERSION)
    protocol_type = r.string("protocol type")
    generation = r.i32("generation")
    protocol = r.nullable_string("protocol")
    leader = r.nullable_string("leader")
    timestamp = r.i64("current state timestamp") if version >= 2 else -1
    count = r.i32("member count")
    if count < 0 or count > len(buf):
        raise RecordFormatError(f"group value: member count {count} is impossible")
    members = []
    for _ in range(count):
        member_id = r.string("member id")
        instance_id = r.nullable_string("group instance id") if version >= 3 else None
        client_id = r.string("client id")
        client_host = r.string("client host")
        rebalance = r.i32("rebalance timeout") if version >= 1 else None
        session = r.i32("session timeout")
        if rebalance is None:
            rebalance = session
        subscription = r.nullable_bytes("subscription") or b""
        assignment = r.nullable_bytes("assignment") or b""
        members.append(
            StoredMember(
                member_id, instance_id, client_id, client_host, rebalance, session,
                subscription, assignment,
            )
        )
    return GroupValue(protocol_type, generation, protocol, leader, timestamp, tuple(members))
