"""Fixtures for the record batch tests: kafka-python as an independent codec oracle."""

from __future__ import annotations

import types
from collections.abc import Iterator

import cramjam
import kafka.codec
import pytest


@pytest.fixture
def kafka_python_snappy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Give kafka-python a snappy block codec when python-snappy is not installed.

    kafka-python writes and parses the xerial framing itself and only calls
    ``snappy.compress``/``snappy.decompress`` for raw blocks; python-snappy's
    current releases implement those two functions with cramjam's raw block codec,
    which is what this stand-in does.
    """
    if kafka.codec.snappy is None:
        shim = types.SimpleNamespace(
            compress=lambda data: bytes(cramjam.snappy.compress_raw(data)),
            decompress=lambda data: bytes(cramjam.snappy.decompress_raw(data)),
        )
        monkeypatch.setattr(kafka.codec, "snappy", shim)
    yield
