"""Fixtures for the SDK unit tests: fake brokers on loopback that speak the real codec."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from unit.sdk.fake_broker import FakeBroker, FakeState


@pytest.fixture
async def fake(nursery: trio.Nursery) -> AsyncIterator[FakeBroker]:
    """One fake broker (node 0) with a 3-partition topic ``t``."""
    state = FakeState()
    state.add_topic("t", 3)
    broker = await FakeBroker(state, 0).start(nursery)
    yield broker
    broker.stop()
