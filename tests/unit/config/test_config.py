"""BrokerConfig: TOML spellings, overrides, validation messages, the generated key table."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.config import (
    BrokerConfig,
    ConfigError,
    Listener,
    describe_keys,
    load_config,
    markdown_table,
)

ROOT = Path(__file__).resolve().parents[3]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broker.toml"
    path.write_text(text)
    return path


def test_quoted_and_bare_dotted_keys_mean_the_same(tmp_path: Path) -> None:
    quoted = load_config(_write(tmp_path, '"log.segment.bytes" = 2048\n"node.id" = 3\n'))
    bare = load_config(_write(tmp_path, "log.segment.bytes = 2048\nnode.id = 3\n"))
    assert quoted == bare
    assert (quoted.log_segment_bytes, quoted.node_id) == (2048, 3)


def test_overrides_apply_after_the_file_and_parse_by_type(tmp_path: Path) -> None:
    path = _write(tmp_path, '"num.partitions" = 3\n"write.caching" = false\n')
    config = load_config(
        path,
        [
            "num.partitions=6",
            "write.caching=true",
            "log.dirs=a, b",
            "listeners=plaintext://:0",
        ],
    )
    assert config.num_partitions == 6
    assert config.write_caching is True
    assert config.log_dirs == ("a", "b")
    assert config.get("log.dirs") == ("a", "b")
    assert config.listeners == (Listener("PLAINTEXT", "", 0),)


def test_a_listener_name_may_appear_once() -> None:
    with pytest.raises(ConfigError, match="listeners: each listener name"):
        load_config(None, ["listeners=PLAINTEXT://:1,PLAINTEXT://:2"])


def test_listeners_parse_hosts_ports_and_ipv6() -> None:
    config = load_config(None, ["listeners=PLAINTEXT://[::1]:9093"])
    assert config.listeners == (Listener("PLAINTEXT", "::1", 9093),)
    assert str(config.listeners[0]) == "PLAINTEXT://[::1]:9093"
    config = load_config(None, ["listeners=PLAINTEXT://:0"])
    assert config.listeners == (Listener("PLAINTEXT", "", 0),)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("lgo.dirs=x", "lgo.dirs: unknown configuration key (did you mean log.dirs?)"),
        ("no.such.key=1", "no.such.key: unknown configuration key"),
        ("num.partitions=0", "num.partitions: must be at least 1"),
        ("num.partitions=many", "num.partitions: expected an integer"),
        ("write.caching=yes", "write.caching: expected true or false"),
        ("listeners=SSL://h:1", "listeners: 'SSL' is not a supported"),
        ("listeners=PLAINTEXT://h", "listeners: expected NAME://host:port"),
        ("listeners=PLAINTEXT://h:70000", "listeners: expected NAME://host:port"),
        ("log.retention.ms=0", "log.retention.ms: must be -1"),
        ("log.cleanup.policy=shred", "log.cleanup.policy: must be one of delete, compact"),
        ("metadata.store=zk://x", "metadata.store: must be 'local' or 'etcd://"),
        ("metadata.store=etcd://nohost", "metadata.store: expected etcd://host:port"),
        ("metadata.store=etcd://nohost,h:2/x", "metadata.store: expected etcd://host:port"),
        ("metrics.listener=9644", "metrics.listener: expected host:port"),
        ("message.max.bytes=2000000000", "message.max.bytes: 2000000000 exceeds"),
        ("advertised.listeners=OTHER://h:1", "advertised.listeners: 'OTHER' is not a supported"),
        (
            "advertised.listeners=PLAINTEXT://0.0.0.0:9092",
            "advertised.listeners: PLAINTEXT://0.0.0.0",
        ),
        ("log.dirs=", "log.dirs: needs at least one"),
        ("novalue", "novalue: an override must look like key=value"),
    ],
)
def test_errors_are_one_line_naming_the_key(override: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    message = str(info.value)
    assert "\n" not in message
    assert fragment in message


def test_etcd_store_with_several_endpoints() -> None:
    config = load_config(None, ["metadata.store=etcd://10.0.0.1:2379,10.0.0.2:2379/rillet"])
    assert config.metadata_store == "etcd://10.0.0.1:2379,10.0.0.2:2379/rillet"


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "node.id = = 1\n"))
    with pytest.raises(ConfigError, match="node.id: expected an integer"):
        load_config(_write(tmp_path, '"node.id" = "zero"\n'))


def test_every_key_is_described_once_with_a_default_that_loads() -> None:
    keys = describe_keys()
    names = [k.name for k in keys]
    assert len(names) == len(set(names))
    for required in (
        "node.id", "listeners", "advertised.listeners", "log.dirs", "num.partitions",
        "default.replication.factor", "min.insync.replicas", "auto.create.topics.enable",
        "log.segment.bytes", "log.segment.ms", "log.retention.ms", "log.retention.bytes",
        "log.retention.check.interval.ms", "log.flush.interval.messages",
        "log.flush.interval.ms", "write.caching", "message.max.bytes",
        "socket.request.max.bytes", "connections.max.idle.ms", "queued.max.request.bytes",
        "offsets.topic.num.partitions", "metadata.store", "metrics.listener",
    ):
        assert required in names
    assert all(k.doc and "\n" not in k.doc for k in keys)
    # The rendered defaults read back as the same configuration.
    overrides = [f"{k.name}={k.default}" for k in keys]
    assert load_config(None, overrides) == BrokerConfig()
    table = markdown_table()
    assert all(f"`{name}`" in table for name in names)


def test_the_shipped_config_loads() -> None:
    config = load_config(ROOT / "configs" / "broker.toml")
    assert config.listeners == (Listener("PLAINTEXT", "127.0.0.1", 9092),)
    assert config.log_dirs == ("data",)
    assert config.metrics_address == ("127.0.0.1", 9644)
