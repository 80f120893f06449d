"""Broker configuration: every key declared once, loaded from TOML plus command-line overrides.

Keys are Kafka's property names. In the TOML file write them as quoted dotted keys at the top
level, the way Kafka's `server.properties` spells them:

    "node.id" = 0
    "listeners" = "PLAINTEXT://127.0.0.1:9092"
    "log.dirs" = ["data"]

A bare `log.dirs = ...` is also accepted: TOML turns bare dotted keys into nested tables, and
the loader flattens nested tables by joining their names with dots, so both spellings name the
same key. `--set key=value` overrides are parsed from text by the key's type (lists are
comma-separated). Relative paths in `log.dirs` are relative to the working directory, as in
Kafka.

Every failure is a `ConfigError` whose message is one line naming the key and what is wrong.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple


class ConfigError(Exception):
    """A configuration problem, described in one line that names the key."""


class Listener(NamedTuple):
    """One `NAME://host:port` endpoint; an empty host means every interface."""

    name: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.name}://{host}:{self.port}"


class KeyInfo(NamedTuple):
    """What the README's configuration table shows for one key."""

    name: str
    type: str
    default: str
    doc: str


SECURITY_PROTOCOLS = ("PLAINTEXT",)

_Check = Callable[[Any], str | None]


def _key(name: str, default: Any, doc: str, check: _Check | None = None) -> Any:
    """Declare one configuration key as a dataclass field (name, default, doc, validation)."""
    return dataclasses.field(default=default, metadata={"key": name, "doc": doc, "check": check})


def _at_least(low: int) -> _Check:
    return lambda v: None if v >= low else f"must be at least {low}, got {v}"


def _positive_or_unlimited(v: int) -> str | None:
    return None if v == -1 or v >= 1 else f"must be -1 (no limit) or at least 1, got {v}"


def _one_of(*choices: str) -> _Check:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}, got {v!r}"


def _check_listeners(listeners: tuple[Listener, ...]) -> str | None:
    names = [lst.name for lst in listeners]
    if len(set(names)) != len(names):
        return "each listener name may appear only once"
    return None


def _check_log_dirs(dirs: tuple[str, ...]) -> str | None:
    if not dirs or any(not d for d in dirs):
        return "needs at least one non-empty directory"
    return None


def _check_metadata_store(value: str) -> str | None:
    if value == "local":
        return None
    if value.startswith("etcd://"):
        rest = value[len("etcd://") :]
        addresses = rest.split("/", 1)[0].split(",")
        if any(_parse_host_port(address.strip()) is None for address in addresses):
            return f"expected etcd://host:port[,host:port...]/prefix, got {value!r}"
        return None
    return f"must be 'local' or 'etcd://host:port[,host:port...]/prefix', got {value!r}"


def _check_host_port_or_empty(value: str) -> str | None:
    if value == "" or _parse_host_port(value) is not None:
        return None
    return f"expected host:port or an empty string, got {value!r}"


def _parse_host_port(text: str) -> tuple[str, int] | None:
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        return None
    port = int(port_text)
    if port > 65535:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


@dataclass(frozen=True)
class BrokerConfig:
    """The broker's settings. Field names are the Kafka key names with `.` replaced by `_`."""

    node_id: int = _key("node.id", 0, "This broker's id, unique in the cluster.", _at_least(0))
    listeners: tuple[Listener, ...] = _key(
        "listeners",
        (Listener("PLAINTEXT", "127.0.0.1", 9092),),
        "Comma-separated NAME://host:port endpoints to accept clients on (port 0 = any free port).",
        _check_listeners,
    )
    advertised_listeners: tuple[Listener, ...] = _key(
        "advertised.listeners",
        (),
        "Endpoints given to clients in metadata; empty = the bound listeners.",
        _check_listeners,
    )
    log_dirs: tuple[str, ...] = _key(
        "log.dirs",
        ("data",),
        "Directories holding partition logs; the first also holds local metadata.",
        _check_log_dirs,
    )
    num_partitions: int = _key(
        "num.partitions", 1, "Partitions of an auto-created topic.", _at_least(1)
    )
    default_replication_factor: int = _key(
        "default.replication.factor", 1, "Replicas of an auto-created topic.", _at_least(1)
    )
    min_insync_replicas: int = _key(
        "min.insync.replicas",
        1,
        "In-sync replicas needed to accept an acks=all write.",
        _at_least(1),
    )
    auto_create_topics_enable: bool = _key(
        "auto.create.topics.enable",
        True,
        "Create a topic when a client asks for metadata of or produces to a missing one.",
    )
    log_segment_bytes: int = _key(
        "log.segment.bytes", 1073741824, "Roll a new segment at this size.", _at_least(100)
    )
    log_segment_ms: int = _key(
        "log.segment.ms", 604800000, "Roll a new segment once the active one is this old.",
        _at_least(1),
    )
    log_retention_ms: int = _key(
        "log.retention.ms",
        604800000,
        "Delete segments older than this (-1 = keep forever).",
        _positive_or_unlimited,
    )
    log_retention_bytes: int = _key(
        "log.retention.bytes",
        -1,
        "Delete old segments while a partition is larger than this (-1 = no size limit).",
        _positive_or_unlimited,
    )
    log_retention_check_interval_ms: int = _key(
        "log.retention.check.interval.ms",
        300000,
        "How often retention runs.",
        _at_least(1),
    )
    log_flush_interval_messages: int = _key(
        "log.flush.interval.messages",
        -1,
        "Fsync a partition after this many messages (-1 = not by count).",
        _positive_or_unlimited,
    )
    log_flush_interval_ms: int = _key(
        "log.flush.interval.ms",
        -1,
        "Fsync a partition when its oldest unflushed message is this old (-1 = not by time).",
        _positive_or_unlimited,
    )
    log_index_interval_bytes: int = _key(
        "log.index.interval.bytes",
        4096,
        "Bytes of log between two offset index entries.",
        _at_least(0),
    )
    log_index_size_max_bytes: int = _key(
        "log.index.size.max.bytes",
        10485760,
        "Size of a segment's offset index; a full index rolls the segment.",
        _at_least(32),
    )
    log_cleanup_policy: str = _key(
        "log.cleanup.policy",
        "delete",
        "Default cleanup of old data: delete or compact.",
        _one_of("delete", "compact"),
    )
    write_caching: bool = _key(
        "write.caching",
        False,
        "Acknowledge acks=all writes before fsync (Kafka's page-cache behaviour).",
    )
    message_max_bytes: int = _key(
        "message.max.bytes",
        1048588,
        "Largest record batch accepted.",
        _at_least(100),
    )
    socket_request_max_bytes: int = _key(
        "socket.request.max.bytes",
        104857600,
        "Largest request frame; a larger size prefix closes the connection.",
        _at_least(1024),
    )
    connections_max_idle_ms: int = _key(
        "connections.max.idle.ms",
        600000,
        "Close a connection with no traffic and nothing in flight for this long.",
        _at_least(1),
    )
    queued_max_request_bytes: int = _key(
        "queued.max.request.bytes",
        33554432,
        "Per connection: stop reading while requests and responses in flight exceed this.",
        _at_least(1),
    )
    offsets_topic_num_partitions: int = _key(
        "offsets.topic.num.partitions",
        50,
        "Partitions of the internal __consumer_offsets topic.",
        _at_least(1),
    )
    offsets_topic_replication_factor: int = _key(
        "offsets.topic.replication.factor",
        3,
        "Replicas of __consumer_offsets in a cluster; groups get COORDINATOR_NOT_AVAILABLE "
        "until this many brokers serve (a single-node broker uses 1).",
        _at_least(1),
    )
    offsets_topic_segment_bytes: int = _key(
        "offsets.topic.segment.bytes",
        4194304,
        "Segment size of __consumer_offsets; the active segment is never compacted and a "
        "coordinator replays all of it at load, so it stays small.",
        _at_least(1024),
    )
    offsets_retention_minutes: int = _key(
        "offsets.retention.minutes",
        10080,
        "Committed offsets of a group with no members are kept this long.",
        _at_least(1),
    )
    group_initial_rebalance_delay_ms: int = _key(
        "group.initial.rebalance.delay.ms",
        3000,
        "The first rebalance of an empty group waits this long for more members to join.",
        _at_least(0),
    )
    group_min_session_timeout_ms: int = _key(
        "group.min.session.timeout.ms",
        6000,
        "Smallest session timeout a consumer may ask for.",
        _at_least(1),
    )
    group_max_session_timeout_ms: int = _key(
        "group.max.session.timeout.ms",
        1800000,
        "Largest session timeout a consumer may ask for.",
        _at_least(1),
    )
    log_cleaner_backoff_ms: int = _key(
        "log.cleaner.backoff.ms",
        15000,
        "How often the cleaner looks for compacted topics with enough to clean.",
        _at_least(1),
    )
    metadata_store: str = _key(
        "metadata.store",
        "local",
        "Cluster metadata backend: local (in the first log dir) or etcd://host:port/prefix.",
        _check_metadata_store,
    )
    broker_session_timeout_ms: int = _key(
        "broker.session.timeout.ms",
        6000,
        "Cluster mode: TTL of this broker's registration lease; a broker silent this long "
        "is gone and its leaderships move.",
        _at_least(2000),
    )
    replica_lag_time_max_ms: int = _key(
        "replica.lag.time.max.ms",
        10000,
        "A follower that has not caught up with the leader for this long leaves the ISR.",
        _at_least(1),
    )
    replica_fetch_wait_max_ms: int = _key(
        "replica.fetch.wait.max.ms",
        500,
        "How long a follower's fetch waits at the leader for new records.",
        _at_least(0),
    )
    replica_fetch_max_bytes: int = _key(
        "replica.fetch.max.bytes",
        1048576,
        "Bytes a follower fetches per partition in one request.",
        _at_least(1),
    )
    controlled_shutdown_enable: bool = _key(
        "controlled.shutdown.enable",
        True,
        "Cluster mode: on SIGTERM, move this broker's leaderships to other in-sync replicas "
        "before stopping.",
    )
    controlled_shutdown_timeout_ms: int = _key(
        "controlled.shutdown.timeout.ms",
        15000,
        "How long a controlled shutdown waits for its leaderships to move.",
        _at_least(0),
    )
    auto_leader_rebalance_enable: bool = _key(
        "auto.leader.rebalance.enable",
        True,
        "The controller moves leadership back to a partition's preferred replica once it is "
        "in sync again.",
    )
    leader_imbalance_check_interval_seconds: int = _key(
        "leader.imbalance.check.interval.seconds",
        300,
        "How often the controller runs preferred-leader election.",
        _at_least(1),
    )
    unclean_leader_election_enable: bool = _key(
        "unclean.leader.election.enable",
        False,
        "Elect a replica outside the ISR when no in-sync replica is alive (may lose "
        "acknowledged records); also a topic config.",
    )
    metrics_listener: str = _key(
        "metrics.listener",
        "",
        "host:port of the Prometheus /metrics endpoint; empty = off.",
        _check_host_port_or_empty,
    )
    shutdown_grace_ms: int = _key(
        "shutdown.grace.ms",
        10000,
        "On SIGTERM, how long in-flight requests may take to finish (Rillet-specific).",
        _at_least(0),
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check = f.metadata["check"]
            if check is not None:
                problem = check(getattr(self, f.name))
                if problem is not None:
                    raise ConfigError(f"{f.metadata['key']}: {problem}")
        if self.message_max_bytes > self.socket_request_max_bytes:
            raise ConfigError(
                f"message.max.bytes: {self.message_max_bytes} exceeds "
                f"socket.request.max.bytes ({self.socket_request_max_bytes})"
            )
        names = {lst.name for lst in self.listeners}
        for adv in self.advertised_listeners:
            if adv.name not in names:
                raise ConfigError(
                    f"advertised.listeners: {adv.name} is not the name of any listener"
                )
            if adv.host in ("", "0.0.0.0", "::") or adv.port == 0:
                raise ConfigError(
                    f"advertised.listeners: {adv} must name a reachable host and a fixed port"
                )

    def get(self, key: str) -> Any:
        """The value of a key given by its Kafka name."""
        return getattr(self, _field_by_key()[key].name)

    @property
    def metadata_dir(self) -> Path:
        """Where the local metadata store keeps its file: the first log directory."""
        return Path(self.log_dirs[0])

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """The metrics endpoint as (host, port), or None when it is off."""
        if not self.metrics_listener:
            return None
        return _parse_host_port(self.metrics_listener)

    def topic_defaults(self) -> dict[str, Any]:
        """Broker defaults under topic-level Kafka names, for new topics and DescribeConfigs."""
        return {
            "segment.bytes": self.log_segment_bytes,
            "segment.ms": self.log_segment_ms,
            "segment.index.bytes": self.log_index_size_max_bytes,
            "index.interval.bytes": self.log_index_interval_bytes,
            "retention.ms": self.log_retention_ms,
            "retention.bytes": self.log_retention_bytes,
            "flush.messages": unlimited_as_max(self.log_flush_interval_messages),
            "flush.ms": unlimited_as_max(self.log_flush_interval_ms),
            "cleanup.policy": self.log_cleanup_policy,
            "write.caching": self.write_caching,
            "max.message.bytes": self.message_max_bytes,
            "min.insync.replicas": self.min_insync_replicas,
            "unclean.leader.election.enable": self.unclean_leader_election_enable,
        }


def unlimited_as_max(value: int) -> int:
    """-1 ("no limit") as Kafka's topic-level spelling of it, Long.MAX_VALUE."""
    return 2**63 - 1 if value == -1 else value


def _field_by_key() -> dict[str, dataclasses.Field[Any]]:
    return {f.metadata["key"]: f for f in dataclasses.fields(BrokerConfig)}


_TYPE_NAMES = {
    int: "int",
    bool: "bool",
    str: "string",
    tuple[str, ...]: "list of strings",
    tuple[Listener, ...]: "list of listeners",
}


def _field_type(f: dataclasses.Field[Any]) -> Any:
    return typing.get_type_hints(BrokerConfig)[f.name]


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def describe_keys() -> list[KeyInfo]:
    """Every key with its type, default and one-line doc, in declaration order."""
    return [
        KeyInfo(
            f.metadata["key"],
            _TYPE_NAMES[_field_type(f)],
            _render(f.default),
            f.metadata["doc"],
        )
        for f in dataclasses.fields(BrokerConfig)
    ]


def parse_listener(text: str) -> Listener:
    """Parse `NAME://host:port`; raise ValueError with a short reason."""
    name, sep, address = text.strip().partition("://")
    if not sep or not name:
        raise ValueError(f"expected NAME://host:port, got {text.strip()!r}")
    if name.upper() not in SECURITY_PROTOCOLS:
        raise ValueError(
            f"{name!r} is not a supported security protocol "
            f"(supported: {', '.join(SECURITY_PROTOCOLS)})"
        )
    parsed = _parse_host_port(address)
    if parsed is None:
        raise ValueError(f"expected NAME://host:port, got {text.strip()!r}")
    return Listener(name.upper(), parsed[0], parsed[1])


def _convert(key: str, kind: Any, raw: Any) -> Any:
    """Turn a TOML value or override text into the key's type, or raise ConfigError."""
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
                return raw.strip().lower() == "true"
            raise ValueError(f"expected true or false, got {raw!r}")
        if kind is int:
            if isinstance(raw, bool):
                raise ValueError(f"expected an integer, got {raw!r}")
            if isinstance(raw, int):
                return raw
            if isinstance(raw, str):
                try:
                    return int(raw.strip().replace("_", ""))
                except ValueError:
                    pass
            raise ValueError(f"expected an integer, got {raw!r}")
        if kind is str:
            if isinstance(raw, str):
                return raw.strip()
            raise ValueError(f"expected a string, got {raw!r}")
        items = _as_items(raw)
        if kind == tuple[str, ...]:
            return tuple(items)
        if kind == tuple[Listener, ...]:
            return tuple(parse_listener(item) for item in items)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    raise AssertionError(f"no converter for {key}")


def _as_items(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        return [item.strip() for item in raw if item.strip()]
    raise ValueError(f"expected a comma-separated string or a list of strings, got {raw!r}")


def _flatten(table: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            yield from _flatten(value, key + ".")
        else:
            yield key, value


def _unknown(key: str) -> ConfigError:
    close = difflib.get_close_matches(key, _field_by_key().keys(), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return ConfigError(f"{key}: unknown configuration key{hint}")


def build_config(values: Mapping[str, Any]) -> BrokerConfig:
    """A BrokerConfig from Kafka-named keys whose values are TOML values or override text."""
    fields = _field_by_key()
    kwargs: dict[str, Any] = {}
    for key, raw in values.items():
        f = fields.get(key)
        if f is None:
            raise _unknown(key)
        kwargs[f.name] = _convert(key, _field_type(f), raw)
    return BrokerConfig(**kwargs)


def parse_override(text: str) -> tuple[str, str]:
    """Split one `key=value` override; raise ConfigError when there is no `=`."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{text}: an override must look like key=value")
    return key.strip(), value


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> BrokerConfig:
    """Read a TOML file (None = defaults only), then apply `key=value` overrides in order."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                document = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the configuration file ({exc.strerror})")
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})")
        for key, value in _flatten(document):
            if key in values:
                raise ConfigError(f"{key}: set twice in {path}")
            values[key] = value
    for text in overrides:
        key, value = parse_override(text)
        values[key] = value
    return build_config(values)


def markdown_table() -> str:
    """The README's configuration table, generated from the declarations."""
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for info in describe_keys():
        default = f"`{info.default}`" if info.default else "(empty)"
        lines.append(f"| `{info.name}` | {info.type} | {default} | {info.doc} |")
    return "\n".join(lines) + "\n"
