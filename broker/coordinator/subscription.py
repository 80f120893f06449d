"""Reading the topic list out of a "consumer" protocol subscription.

The coordinator treats member metadata as opaque, except to answer OffsetDelete: offsets of a
topic that a live member subscribes to may not be deleted. Every version of the consumer
protocol's subscription starts with an int16 version and an int32-counted array of int16-length
topic names.
"""

from __future__ import annotations

import struct

_HEAD = struct.Struct(">hi")
_LEN = struct.Struct(">h")


def subscribed_topics(metadata: bytes) -> set[str] | None:
    """The topics of a consumer subscription, or None when the bytes do not parse."""
    try:
        _version, count = _HEAD.unpack_from(metadata, 0)
        if count < 0 or count > len(metadata):
            return None
        pos = _HEAD.size
        topics = set()
        for _ in range(count):
            (n,) = _LEN.unpack_from(metadata, pos)
            pos += _LEN.size
            if n < 0 or pos + n > len(metadata):
                return None
            topics.add(metadata[pos : pos + n].decode())
            pos += n
        return topics
    except (struct.error, UnicodeDecodeError):
        return None
