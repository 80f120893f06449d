"""Fixtures for the record batch tests: kafka-python as an independent codec oracle."""

from __future__ import annotations

import kafka.codec
import pytest


@pytest.fixture
def kafka_python_snappy() -> None:
    """kafka-python's snappy path needs python-snappy (a test dependency); fail, never skip."""
    assert kafka.codec.has_snappy(), "python-snappy is missing: kafka-python cannot do snappy"
