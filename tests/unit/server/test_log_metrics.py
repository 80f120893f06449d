"""The log metrics: per-topic counters and per-partition sizes, read back from a registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from broker.metrics import LogMetrics


def test_appends_and_reads_add_up_per_topic() -> None:
    registry = CollectorRegistry()
    metrics = LogMetrics(registry)
    metrics.appended("a", 10, 1000)
    metrics.appended("a", 5, 300)
    metrics.appended("b", 1, 70)
    metrics.read("a", 4, 400)
    value = registry.get_sample_value
    assert value("rillet_log_records_appended_total", {"topic": "a"}) == 15
    assert value("rillet_log_bytes_appended_total", {"topic": "a"}) == 1300
    assert value("rillet_log_records_appended_total", {"topic": "b"}) == 1
    assert value("rillet_log_records_read_total", {"topic": "a"}) == 4
    assert value("rillet_log_bytes_read_total", {"topic": "a"}) == 400


def test_a_closed_partition_loses_its_size_until_it_opens_again() -> None:
    registry = CollectorRegistry()
    metrics = LogMetrics(registry)
    labels = {"topic": "t", "partition": "3"}
    metrics.partition_opened("t", 3, 0)
    metrics.partition_size("t", 3, 500)
    assert registry.get_sample_value("rillet_log_size_bytes", labels) == 500
    metrics.partition_closed("t", 3)
    assert registry.get_sample_value("rillet_log_size_bytes", labels) is None
    assert registry.get_sample_value("rillet_log_partitions") == 0
    metrics.partition_opened("t", 3, 40)
    metrics.partition_size("t", 3, 90)
    assert registry.get_sample_value("rillet_log_size_bytes", labels) == 90
