"""kafka-python 3.0's message classes by (api key, "request"/"response"): our oracle."""

from __future__ import annotations

import importlib
import inspect
import warnings
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.api_message import ApiMessage

_MODULES = (
    "kafka.protocol.metadata",
    "kafka.protocol.consumer",
    "kafka.protocol.producer",
    "kafka.protocol.admin",
    "kafka.protocol.sasl",
)


def kafka_python_classes() -> dict[tuple[int, str], Any]:
    """Every kafka-python message class that carries a Kafka message definition."""
    found = {}
    for name in _MODULES:
        with warnings.catch_warnings():
            # kafka-python loads its definitions through a deprecated importlib call.
            warnings.simplefilter("ignore", DeprecationWarning)
            module = importlib.import_module(name)
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, ApiMessage)
                and obj is not ApiMessage
                and getattr(obj, "_json", None)
            ):
                found[(obj.API_KEY, obj.type)] = obj
    return found


KP = kafka_python_classes()
