"""Dynamic broker configs are cluster-wide: one broker stores them, every broker applies them."""

from __future__ import annotations

from client.protocol import ApiKey, ErrorCode

from harness.cluster import ClusterProcesses, cluster, cluster_etcd  # noqa: F401 (fixtures)

TOPIC_RESOURCE, BROKER_RESOURCE = 2, 4


def topic_config(cluster: ClusterProcesses, node: int, topic: str, key: str) -> tuple[str, int]:
    """(value, source) of one topic config as ``node`` describes it."""
    answer = cluster.request(node, ApiKey.DESCRIBE_CONFIGS, 2, {"resources": [
        {"resource_type": TOPIC_RESOURCE, "resource_name": topic, "configuration_keys": [key]}
    ]})  # fmt: skip
    result = answer["results"][0]
    assert result["error_code"] == ErrorCode.NONE, result
    (entry,) = result["configs"]
    return entry["value"], entry["config_source"]


def test_a_broker_config_altered_on_one_broker_applies_on_every_broker(
    cluster: ClusterProcesses,  # noqa: F811 (fixture)
) -> None:
    cluster.create_topic("events", partitions=3)
    before = {node: topic_config(cluster, node, "events", "retention.ms") for node in (1, 2, 3)}
    assert {value for value, _ in before.values()} == {"604800000"}

    answer = cluster.request(1, ApiKey.INCREMENTAL_ALTER_CONFIGS, 1, {"resources": [
        {"resource_type": BROKER_RESOURCE, "resource_name": "", "configs": [
            {"name": "log.retention.ms", "config_operation": 0, "value": "3600000"}]}
    ], "validate_only": False})  # fmt: skip
    assert answer["responses"][0]["error_code"] == ErrorCode.NONE

    # Each broker answers from the configs it applies to the partitions it hosts.
    for node in (1, 2, 3):
        value, source = cluster.wait_for(
            lambda node=node: (found := topic_config(cluster, node, "events", "retention.ms"))[0]
            == "3600000" and found,
            timeout=10, what=f"broker {node} to apply log.retention.ms",
        )
        assert source == 2  # DYNAMIC_BROKER_CONFIG
