"""The /metrics endpoint reports what really happened: bytes, records, requests, sizes.

Every expected value is computed from what the test sent (batch lengths, record counts,
request counts), and request counters are compared before and after, so the numbers have to
move by exactly the test's own traffic.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from client.protocol import ApiKey, ErrorCode
from client.records import build_batch

from harness.broker import BrokerProcess
from harness.wire import (
    WireClient,
    create_topic,
    fetch_body,
    fetch_partitions,
    init_producer_id,
    produce_body,
    produce_partitions,
)

Samples = dict[tuple[str, frozenset], float]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """This module's broker checks retention every 300 ms, so a retention change shows soon."""
    process = BrokerProcess(
        tmp_path_factory.mktemp("broker"), settings={"log.retention.check.interval.ms": "300"}
    )
    with process:
        yield process


def scrape(broker: BrokerProcess) -> Samples:
    """Every sample of the broker's /metrics page by (name, labels)."""
    url = f"http://127.0.0.1:{broker.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as page:
        text = page.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def produce(client: WireClient, topic: str, batches: dict[int, bytes]) -> None:
    response = client.request(ApiKey.PRODUCE, 9, produce_body(topic, batches, acks=1))
    for entry in produce_partitions(response).values():
        assert entry["error_code"] == ErrorCode.NONE


def test_traffic_shows_up_in_the_metrics(broker: BrokerProcess, topic_name: str):
    before = scrape(broker)
    with WireClient(broker.port) as client:
        create_topic(client, topic_name, partitions=2)
        pid, epoch = init_producer_id(client)
        sent = {
            0: [build_batch([b"p0-%d" % i] * (i + 1), producer_id=pid, producer_epoch=epoch,
                            base_sequence=i * (i + 1) // 2) for i in range(3)],
            1: [build_batch([b"partition one" * 20] * 4) for _ in range(2)],
        }  # fmt: skip
        requests = 0
        for partition, batches in sent.items():
            for batch in batches:
                produce(client, topic_name, {partition: batch})
                requests += 1
        # an idempotent retry is answered but appends nothing
        produce(client, topic_name, {0: sent[0][-1]})
        requests += 1
        sizes = {p: sum(len(b) for b in batches) for p, batches in sent.items()}
        records = 1 + 2 + 3 + 2 * 4
        response = client.request(
            ApiKey.FETCH, 12, fetch_body({(topic_name, 0): 0, (topic_name, 1): 0})
        )
        fetched = fetch_partitions(response)
        assert sum(len(e["records"]) for e in fetched.values()) == sum(sizes.values())
        idle = [WireClient(broker.port) for _ in range(3)]
        try:
            for extra in idle:  # answered, so the broker has surely accepted them
                extra.request(ApiKey.API_VERSIONS, 0, {})
            after = scrape(broker)
        finally:
            for extra in idle:
                extra.close()

    topic = {"topic": topic_name}
    assert value(after, "rillet_log_bytes_appended_total", **topic) == sum(sizes.values())
    assert value(after, "rillet_log_records_appended_total", **topic) == records
    assert value(after, "rillet_log_bytes_read_total", **topic) == sum(sizes.values())
    assert value(after, "rillet_log_records_read_total", **topic) == records
    for partition, size in sizes.items():
        labels = {"topic": topic_name, "partition": str(partition)}
        assert value(after, "rillet_log_size_bytes", **labels) == size
    assert value(after, "rillet_log_partitions") - value(before, "rillet_log_partitions") == 2

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("rillet_server_requests_total", api="PRODUCE") == requests
    assert delta("rillet_server_requests_total", api="FETCH") == 1
    assert delta("rillet_server_requests_total", api="CREATE_TOPICS") == 1
    for api, count in (("PRODUCE", requests), ("FETCH", 1), ("API_VERSIONS", 3)):
        assert delta("rillet_server_request_latency_seconds_count", api=api) == count
        assert delta("rillet_server_request_latency_seconds_bucket", api=api, le="+Inf") == count
        assert delta("rillet_server_request_latency_seconds_sum", api=api) > 0
    # the client above and the three idle ones
    assert value(after, "rillet_server_connections") == 4
    assert delta("rillet_server_connections_accepted_total") == 4
    assert delta("rillet_server_bytes_received_total") > sum(sizes.values())
    assert delta("rillet_server_bytes_sent_total") > sum(sizes.values())


def test_log_size_follows_deletions(broker: BrokerProcess, topic_name: str):
    batch = build_batch([b"x" * 400])
    labels = {"topic": topic_name, "partition": "0"}
    with WireClient(broker.port) as client:
        create_topic(client, topic_name, configs={"segment.bytes": str(3 * len(batch))})
        for _ in range(9):  # three batches a segment: three segments
            produce(client, topic_name, {0: batch})
        assert value(scrape(broker), "rillet_log_size_bytes", **labels) == 9 * len(batch)
        response = client.request(
            ApiKey.DELETE_RECORDS, 1,
            {"topics": [{"name": topic_name, "partitions": [{"partition_index": 0, "offset": 4}]}],
             "timeout_ms": 10_000},
        )  # fmt: skip
        assert response["topics"][0]["partitions"][0]["low_watermark"] == 4
        # the first segment (offsets 0-2) is gone, the second holds the new log start
        assert value(scrape(broker), "rillet_log_size_bytes", **labels) == 6 * len(batch)

        alter = client.request(
            ApiKey.INCREMENTAL_ALTER_CONFIGS, 1,
            {"resources": [{"resource_type": 2, "resource_name": topic_name, "configs": [
                {"name": "retention.ms", "config_operation": 0, "value": "1"}]}],
             "validate_only": False},
        )  # fmt: skip
        assert alter["responses"][0]["error_code"] == ErrorCode.NONE
        # retention removes every segment but the active one
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            size = value(scrape(broker), "rillet_log_size_bytes", **labels)
            if size == 3 * len(batch):
                break
            time.sleep(0.1)
        assert size == 3 * len(batch)

        client.request(ApiKey.DELETE_TOPICS, 3, {"topic_names": [topic_name], "timeout_ms": 10_000})
        assert ("rillet_log_size_bytes", frozenset(labels.items())) not in scrape(broker)


def test_replica_gauges_count_the_partitions_this_broker_leads(
    broker: BrokerProcess, topic_name: str
):
    before = value(scrape(broker), "rillet_replica_leader_partitions")
    with WireClient(broker.port) as client:
        create_topic(client, topic_name, partitions=3)
    samples = scrape(broker)
    # One broker leads everything; its partitions have one replica, always in sync.
    assert value(samples, "rillet_replica_leader_partitions") == before + 3
    assert value(samples, "rillet_replica_under_replicated_partitions") == 0
    assert value(samples, "rillet_replica_under_min_isr_partitions") == 0
