"""Suite-wide settings: the compiled native core must be the one under test."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import native

pytest_plugins = ["harness.fixtures"]

# Two shared cores in CI: no per-example deadline, fewer examples unless asked.
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=int(os.environ.get("RILLET_HYPOTHESIS_EXAMPLES", "100")),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci")


def pytest_sessionstart(session: pytest.Session) -> None:
    # A silently missing extension would test only the Python twins.
    native.require_compiled()
