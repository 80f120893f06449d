"""pytest fixtures that start real brokers (registered from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.broker import BrokerProcess
from harness.threads import collect_clients


@pytest.fixture(scope="module", autouse=True)
def no_client_left_running() -> Iterator[None]:
    """Every Kafka client a module made is gone when the module ends (see harness.threads)."""
    yield
    left = collect_clients()
    assert not left, f"librdkafka threads outlived their clients: {left}"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker shared by the tests of a module (topics are named per test)."""
    process = BrokerProcess(tmp_path_factory.mktemp("broker"))
    with process:
        yield process


@pytest.fixture
def fresh_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """A broker of the test's own, for tests that stop, kill or restart it."""
    process = BrokerProcess(tmp_path_factory.mktemp("broker"))
    with process:
        yield process


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name unique to the test (valid Kafka characters only)."""
    name = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")
    return "t-" + "".join(c if c.isalnum() or c in "._-" else "-" for c in name)[:200]
