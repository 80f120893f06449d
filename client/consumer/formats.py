"""The consumer protocol: what members put in JoinGroup metadata and SyncGroup assignments.

The group coordinator treats both as opaque bytes; every Kafka client of the group must agree
on them. Both start with an int16 version and use the classic (non-flexible) encoding::

    Subscription (JoinGroup protocol metadata), versions 0-3
      version           int16
      topics            [string]      topics the member wants
      user_data         nullable bytes assignor-specific
      owned_partitions  [topic string, partitions [int32]]   v1+, what the member holds now
      generation_id     int32         v2+, the generation those partitions were assigned in
      rack_id           nullable string v3+

    Assignment (SyncGroup assignment), versions 0-3, one layout for all of them
      version              int16
      assigned_partitions  [topic string, partitions [int32]]
      user_data            nullable bytes

A reader meets newer versions by reading them as the newest layout it knows (later versions may
only append fields), and tolerates a body that stops before the optional fields of its stated
version, as older writers produced. Writers here use version 3, as the Java client and
librdkafka do.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field as dc_field

from client.consumer.structs import TopicPartition
from client.protocol.compiler import compile_decoder, compile_encoder
from client.protocol.errors import ProtocolError
from client.protocol.schema import array, field, struct as schema_struct

__all__ = [
    "CONSUMER_PROTOCOL_TYPE",
    "Assignment",
    "FormatError",
    "Subscription",
    "decode_assignment",
    "decode_subscription",
    "encode_assignment",
    "encode_subscription",
]

# The JoinGroup protocol_type every consumer sends.
CONSUMER_PROTOCOL_TYPE = "consumer"
NEWEST_VERSION = 3

_VERSION = struct.Struct(">h")

_topic_partitions = array(schema_struct(
    field("topic", "string"),
    field("partitions", array("int32")),
))

_SUBSCRIPTION = schema_struct(
    field("topics", array("string")),
    field("user_data", "bytes", nullable="0+", default=None),
    field("owned_partitions", _topic_partitions, "1+"),
    field("generation_id", "int32", "2+", default=-1),
    field("rack_id", "string", "3+", nullable="3+", default=None),
)

_ASSIGNMENT = schema_struct(
    field("assigned_partitions", _topic_partitions),
    field("user_data", "bytes", nullable="0+", default=None),
)

_SUB_ENCODERS = {v: compile_encoder(_SUBSCRIPTION, v, False) for v in range(NEWEST_VERSION + 1)}
_SUB_DECODERS = {v: compile_decoder(_SUBSCRIPTION, v, False) for v in range(NEWEST_VERSION + 1)}
_ASSIGN_ENCODER = compile_encoder(_ASSIGNMENT, 0, False)
_ASSIGN_DECODER = compile_decoder(_ASSIGNMENT, 0, False)


class FormatError(ValueError):
    """Subscription or assignment bytes that cannot be read."""


@dataclass
class Subscription:
    """One member's subscription as carried in its JoinGroup metadata."""

    topics: list[str]
    user_data: bytes | None = None
    owned_partitions: list[TopicPartition] = dc_field(default_factory=list)
    generation_id: int = -1
    rack_id: str | None = None
    version: int = NEWEST_VERSION


@dataclass
class Assignment:
    """One member's share of the partitions as carried in the SyncGroup assignment."""

    partitions: list[TopicPartition]
    user_data: bytes | None = None
    version: int = NEWEST_VERSION


def group_by_topic(partitions: Iterable[TopicPartition]) -> list[dict]:
    """``[{"topic", "partitions"}]`` in order of each topic's first appearance."""
    by_topic: dict[str, list[int]] = {}
    for topic, partition in partitions:
        by_topic.setdefault(topic, []).append(partition)
    return [{"topic": t, "partitions": p} for t, p in by_topic.items()]


def _flatten(groups: list[dict]) -> list[TopicPartition]:
    return [TopicPartition(g["topic"], p) for g in groups for p in g["partitions"]]


def encode_subscription(sub: Subscription) -> bytes:
    """The JoinGroup metadata bytes for ``sub`` at ``sub.version`` (0-3)."""
    if not 0 <= sub.version <= NEWEST_VERSION:
        raise ValueError(f"subscription version {sub.version} is not 0-{NEWEST_VERSION}")
    out = bytearray(_VERSION.pack(sub.version))
    _SUB_ENCODERS[sub.version](out, {
        "topics": list(sub.topics),
        "user_data": sub.user_data,
        "owned_partitions": group_by_topic(sub.owned_partitions),
        "generation_id": sub.generation_id,
        "rack_id": sub.rack_id,
    })
    return bytes(out)


def encode_assignment(assignment: Assignment) -> bytes:
    """The SyncGroup assignment bytes for ``assignment``."""
    out = bytearray(_VERSION.pack(assignment.version))
    _ASSIGN_ENCODER(out, {
        "assigned_partitions": group_by_topic(assignment.partitions),
        "user_data": assignment.user_data,
    })
    return bytes(out)


def _read_version(data: bytes | memoryview, what: str) -> tuple[memoryview, int]:
    view = memoryview(data).cast("B") if not isinstance(data, memoryview) else data
    if len(view) < 2:
        raise FormatError(f"{what} of {len(view)} bytes has no version")
    (version,) = _VERSION.unpack_from(view, 0)
    if version < 0:
        raise FormatError(f"{what} version {version} is negative")
    return view, version


def decode_subscription(data: bytes | memoryview) -> Subscription:
    """Read JoinGroup metadata; raises FormatError when even the version 0 fields are cut."""
    view, version = _read_version(data, "subscription")
    # A body shorter than its version says is read at the newest layout that fits it.
    for layout in range(min(version, NEWEST_VERSION), -1, -1):
        try:
            body, _ = _SUB_DECODERS[layout](view, 2)
        except (ProtocolError, struct.error, IndexError, UnicodeDecodeError):
            continue
        return Subscription(
            topics=list(body["topics"]),
            user_data=body["user_data"],
            owned_partitions=_flatten(body.get("owned_partitions", [])),
            generation_id=body.get("generation_id", -1),
            rack_id=body.get("rack_id"),
            version=version,
        )
    raise FormatError(f"subscription version {version} of {len(view)} bytes does not decode")


def decode_assignment(data: bytes | memoryview) -> Assignment:
    """Read a SyncGroup assignment; an empty one (a member given nothing) reads as no partitions.
    """
    if len(data) == 0:
        return Assignment([], None, 0)
    view, version = _read_version(data, "assignment")
    try:
        body, _ = _ASSIGN_DECODER(view, 2)
    except (ProtocolError, struct.error, IndexError, UnicodeDecodeError) as exc:
        raise FormatError(f"assignment version {version} does not decode: {exc}") from None
    return Assignment(_flatten(body["assigned_partitions"]), body["user_data"], version)
