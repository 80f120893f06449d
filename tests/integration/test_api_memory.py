"""The broker's memory stays bounded by idle connections and by a client that never reads.

A client that pipelines fetches and never reads the answers would make an unbounded broker
hold every response: here 250 responses of ~900 KB.  With ``queued.max.request.bytes`` the
connection stops taking requests once that many bytes of requests and responses are queued,
so the broker holds a few MB and the rest waits in the client's socket.  Other clients are
served meanwhile, and the stuck client still gets every answer, in order, once it reads.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from client.protocol import ApiKey, ErrorCode
from client.records import build_batch, decode_batches

from harness.broker import BrokerProcess
from harness.wire import (
    WireClient,
    create_topic,
    fetch_body,
    fetch_partitions,
    produce_body,
    produce_partitions,
)

QUEUED_MAX_BYTES = 4 * 1024 * 1024
MB = 1024 * 1024


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """A broker whose per-connection queue bound is small next to what the test asks for."""
    process = BrokerProcess(
        tmp_path_factory.mktemp("broker"),
        settings={"queued.max.request.bytes": str(QUEUED_MAX_BYTES)},
    )
    with process:
        yield process


def round_trip(broker: BrokerProcess, topic: str, value: bytes) -> float:
    """Produce ``value`` and fetch it back on a new connection; seconds it took."""
    started = time.monotonic()
    with WireClient(broker.port, timeout=5) as client:
        response = client.request(
            ApiKey.PRODUCE, 9, produce_body(topic, {0: build_batch([value])}, acks=1)
        )
        entry = produce_partitions(response)[(topic, 0)]
        assert entry["error_code"] == ErrorCode.NONE
        fetched = client.request(ApiKey.FETCH, 12, fetch_body({(topic, 0): entry["base_offset"]}))
        batches = decode_batches(bytes(fetch_partitions(fetched)[(topic, 0)]["records"]))
        assert batches[0].records[0].value == value
    return time.monotonic() - started


def test_idle_connections_cost_little(broker: BrokerProcess, topic_name: str):
    with WireClient(broker.port) as client:
        create_topic(client, topic_name)
    before = broker.rss_bytes()
    idle = [WireClient(broker.port) for _ in range(200)]
    try:
        for client in idle:  # each answered once, so each is really being served
            assert client.request(ApiKey.API_VERSIONS, 0, {})["error_code"] == ErrorCode.NONE
        grown = broker.rss_bytes() - before
        assert grown < 50 * MB, f"200 idle connections took {grown / MB:.1f} MB"
        assert round_trip(broker, topic_name, b"still served") < 2.0
        # and every idle connection still answers
        for client in idle:
            assert client.request(ApiKey.API_VERSIONS, 0, {})["error_code"] == ErrorCode.NONE
    finally:
        for client in idle:
            client.close()


def test_a_client_that_never_reads_is_bounded(broker: BrokerProcess, topic_name: str):
    payload = os.urandom(900 * 1024)
    count = 250
    with WireClient(broker.port) as setup:
        create_topic(setup, topic_name)
        response = setup.request(
            ApiKey.PRODUCE, 9, produce_body(topic_name, {0: build_batch([payload])}, acks=1)
        )
        assert produce_partitions(response)[(topic_name, 0)]["error_code"] == ErrorCode.NONE
    before = broker.rss_bytes()
    with WireClient(broker.port, timeout=30) as greedy:
        body = fetch_body({(topic_name, 0): 0}, partition_max_bytes=MB)
        # in one write: the broker finds them all in its buffer at once
        sent = greedy.send_many(ApiKey.FETCH, 12, [body] * count)
        # time for an unbounded broker to answer everything into its own memory
        time.sleep(1.5)
        grown = broker.rss_bytes() - before
        assert grown < 100 * MB, f"the broker grew by {grown / MB:.0f} MB"
        assert round_trip(broker, topic_name, b"other clients are served") < 2.0
        assert broker.rss_bytes() - before < 100 * MB

        # nothing was lost or reordered while the connection was held back
        for correlation_id in sent:
            received_id, response = greedy.receive()
            assert received_id == correlation_id
            entry = fetch_partitions(response)[(topic_name, 0)]
            assert len(entry["records"]) > len(payload)
