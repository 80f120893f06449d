"""Consumer options: kafka-python names, defaults, and errors that name the bad option."""

from __future__ import annotations

import pytest

from client.consumer.config import consumer_config


def test_defaults_follow_the_java_and_kafka_python_clients() -> None:
    config = consumer_config()
    assert (config.auto_offset_reset, config.enable_auto_commit, config.max_poll_records) == (
        "latest", True, 500
    )
    assert [a.name for a in config.assignors] == ["range", "roundrobin"]
    assert config.effective_rebalance_timeout_ms == config.max_poll_interval_ms


def test_unknown_options_are_named_with_a_suggestion() -> None:
    with pytest.raises(TypeError, match=r"'group_idd' \(did you mean 'group_id'\?\).*'zzz'"):
        consumer_config(group_idd="g", zzz=1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"auto_offset_reset": "start"}, "auto_offset_reset"),
        ({"max_poll_records": 0}, "max_poll_records"),
        ({"fetch_min_bytes": -1}, "fetch_min_bytes"),
        ({"isolation_level": "serializable"}, "isolation_level"),
        ({"heartbeat_interval_ms": 50_000}, "heartbeat_interval_ms"),
        ({"group_instance_id": "i"}, "group_instance_id"),
        ({"partition_assignment_strategy": ["sticky-ish"]}, "sticky-ish"),
        ({"fetch_buffer_bytes": 1000}, "fetch_buffer_bytes"),
        ({"value_deserializer": "utf-8"}, "value_deserializer"),
        ({"bootstrap_servers": 9092}, "bootstrap_servers"),
        ({"group_id": ""}, "group_id"),
    ],
)
def test_bad_values_name_the_option(options: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        consumer_config(**options)


def test_reset_aliases_and_cooperative_strategy() -> None:
    assert consumer_config(auto_offset_reset="smallest").auto_offset_reset == "earliest"
    assert consumer_config(auto_offset_reset=None).auto_offset_reset == "none"
    config = consumer_config(partition_assignment_strategy=("cooperative-sticky",),
                             isolation_level="read_committed")
    assert config.read_committed and config.assignors[0].name == "cooperative-sticky"
