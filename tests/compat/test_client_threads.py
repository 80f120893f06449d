"""The suite's check that no Kafka client outlives its module sees librdkafka's threads."""

from __future__ import annotations

import gc

from confluent_kafka import Producer

from harness.threads import client_threads, collect_clients


def test_a_client_s_threads_are_seen_and_end_with_it() -> None:
    before = client_threads()
    producer = Producer({"bootstrap.servers": "127.0.0.1:9", "socket.timeout.ms": 100})
    assert "rdk:main" in client_threads()
    assert len(client_threads()) > len(before)
    del producer
    assert collect_clients() == before


def test_a_client_in_a_reference_cycle_is_collected() -> None:
    before = client_threads()
    gc.disable()  # no automatic collection between the ``del`` and the look
    try:
        cycle: list[object] = [Producer({"bootstrap.servers": "127.0.0.1:9"})]
        cycle.append(cycle)
        del cycle
        assert len(client_threads()) > len(before), "only a collection frees a cycle"
    finally:
        gc.enable()
    assert collect_clients() == before
