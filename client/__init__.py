"""Rillet's Python SDK for Kafka-protocol brokers (Rillet's own or any other).

Async, trio-native clients::

    from client import Producer, Consumer, Admin

and blocking twins with the same names and options in :mod:`client.sync`. Errors are
:class:`client.errors.KafkaError` subclasses named after Kafka's error codes. The
connection layer they share is :mod:`client.network`; the wire codec is
:mod:`client.protocol` and the record batch format :mod:`client.records`.

The names below are imported on first use, so that code needing only the codec (the broker
imports ``client.protocol``) does not load the clients.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from client.accumulator import RecordFuture, RecordMetadata
    from client.admin import (
        Admin,
        ClusterDescription,
        ConfigEntry,
        GroupDescription,
        GroupListing,
        NewTopic,
        ResourceType,
        TopicDescription,
    )
    from client.consumer import Consumer
    from client.errors import KafkaError
    from client.producer import Producer

_EXPORTS = {
    "Admin": "client.admin",
    "ClusterDescription": "client.admin",
    "ConfigEntry": "client.admin",
    "GroupDescription": "client.admin",
    "GroupListing": "client.admin",
    "NewTopic": "client.admin",
    "ResourceType": "client.admin",
    "TopicDescription": "client.admin",
    "KafkaError": "client.errors",
    "Producer": "client.producer",
    "RecordFuture": "client.accumulator",
    "RecordMetadata": "client.accumulator",
    # the consumer is its own part of the SDK (client.consumer)
    "Consumer": "client.consumer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'client' has no attribute {name!r}")
    if importlib.util.find_spec(module) is None:
        raise ImportError(f"{name} needs {module}, which is not in this build")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
