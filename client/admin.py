"""The async admin client: topics, partitions, configs, consumer groups, the cluster.

Requests go where Kafka wants them: topic creation, deletion and partition changes to the
controller; group operations to each group's coordinator; broker configs to that broker;
everything else to any broker. Retriable failures (controller moved, coordinator loading,
connection lost) are retried with backoff until ``request_timeout_ms``; anything else is
raised as the :mod:`client.errors` class named for the Kafka error code, with the topic or
group it concerns in the message. Operations on several topics or groups raise the first
failure after all have been attempted; the exception's ``errors`` attribute maps every
failed name to its error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import trio

from client.errors import KafkaError, UnsupportedVersionByBrokerError, error_for
from client.network import Cluster, retry_until
from client.options import ADMIN_OPTIONS, validate_options
from client.protocol import ApiKey, ErrorCode

__all__ = [
    "Admin",
    "ClusterDescription",
    "ConfigEntry",
    "GroupDescription",
    "GroupListing",
    "GroupMember",
    "ListedOffset",
    "NewTopic",
    "OffsetSpec",
    "PartitionDescription",
    "ReplicaLogInfo",
    "ResourceType",
    "TopicDescription",
]


class ResourceType(IntEnum):
    """Config resource kinds, as numbered in DescribeConfigs/AlterConfigs."""

    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8


class OffsetSpec(IntEnum):
    """Which offset :meth:`Admin.list_offsets` looks up, as ListOffsets numbers them (any
    value >= 0 is a timestamp in ms: the first offset whose record time is at or after it)."""

    LATEST = -1
    EARLIEST = -2


@dataclass(frozen=True)
class ListedOffset:
    """A ListOffsets answer: the offset (-1 when no record matches a timestamp), the timestamp
    of that record (-1 for EARLIEST/LATEST) and the leader epoch (-1 when unknown)."""

    offset: int
    timestamp: int
    leader_epoch: int


@dataclass(frozen=True)
class ReplicaLogInfo:
    """A replica's log in one log directory: bytes on disk, how far its log end offset
    trails the high watermark, and whether it is a future log being moved in."""

    size: int
    offset_lag: int
    is_future: bool


@dataclass(frozen=True)
class NewTopic:
    """A topic to create; ``replication_factor``/``num_partitions`` -1 take broker defaults."""

    name: str
    num_partitions: int = 1
    replication_factor: int = 1
    configs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionDescription:
    """A partition's leader, leader epoch, replicas and in-sync replicas."""

    partition: int
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True)
class TopicDescription:
    """A topic and its partitions, in partition order."""

    name: str
    partitions: list[PartitionDescription]
    is_internal: bool = False


@dataclass(frozen=True)
class ConfigEntry:
    """One config value as the broker reports it (``source``: Kafka's ConfigSource number)."""

    name: str
    value: str | None
    read_only: bool
    is_default: bool
    is_sensitive: bool
    source: int = -1


@dataclass(frozen=True)
class GroupListing:
    """A group as ListGroups names it."""

    group_id: str
    protocol_type: str


@dataclass(frozen=True)
class GroupMember:
    """A member of a group; metadata and assignment are the protocol's opaque bytes."""

    member_id: str
    client_id: str
    client_host: str
    group_instance_id: str | None
    metadata: bytes
    assignment: bytes


@dataclass(frozen=True)
class GroupDescription:
    """A group's state, protocol and members."""

    group_id: str
    state: str
    protocol_type: str
    protocol: str
    members: list[GroupMember]
    coordinator: int


@dataclass(frozen=True)
class ClusterDescription:
    """The cluster id, the controller and the brokers as (node id, host, port, rack)."""

    cluster_id: str | None
    controller_id: int
    brokers: list[tuple[int, str, int, str | None]]


def _first_failure(errors: dict[str, KafkaError]) -> None:
    if errors:
        first = next(iter(errors.values()))
        first.errors = errors  # type: ignore[attr-defined]
        raise first


def _settle_topic_results(
    results: Iterable[dict],
    pending: dict[str, Any] | set[str],
    errors: dict[str, KafkaError],
    *,
    final_codes: frozenset[int] = frozenset(),
) -> None:
    """Take each per-topic result off ``pending``: successes quietly, non-retriable failures
    (and ``final_codes``) into ``errors``; then raise the last retriable error, if any, so
    that the caller's retry loop sends what is still pending again."""
    retry: KafkaError | None = None
    for result in results:
        name, code = result["name"], result["error_code"]
        if code:
            message = result.get("error_message") or ""
            error = error_for(code, f"topic {name!r}: {message}" if message else f"topic {name!r}")
            if error.retriable and code not in final_codes:
                retry = error
                continue
            errors[name] = error
        if isinstance(pending, set):
            pending.discard(name)
        else:
            pending.pop(name, None)
    if retry is not None:
        raise retry


class Admin:
    """Administers a Kafka cluster; async, trio-native.

    ::

        async with Admin("localhost:9092") as admin:
            await admin.create_topics([NewTopic("events", num_partitions=6)])
            print(await admin.list_topics())
            print(await admin.describe_configs(ResourceType.TOPIC, "events"))
            await admin.alter_group_offsets("billing", {("events", 0): 42})
            await admin.delete_topics(["events"])

    Options as for every client: ``client_id``, ``request_timeout_ms``, ``retry_backoff_ms``,
    ``metadata_max_age_ms``, ... (see ``client.options.ADMIN_OPTIONS``).
    """

    def __init__(
        self,
        bootstrap_servers: str | Iterable[str] = "localhost:9092",
        *,
        nursery: trio.Nursery | None = None,
        **options: Any,
    ) -> None:
        opts = validate_options("Admin", ADMIN_OPTIONS, options)
        self.options = opts
        self._timeout = opts["request_timeout_ms"] / 1000
        self._cluster = Cluster(
            bootstrap_servers if isinstance(bootstrap_servers, str) else list(bootstrap_servers),
            client_id=opts["client_id"],
            request_timeout_ms=opts["request_timeout_ms"],
            connect_timeout_ms=opts["socket_connection_setup_timeout_ms"],
            retry_backoff_ms=opts["retry_backoff_ms"],
            retry_backoff_max_ms=opts["retry_backoff_max_ms"],
            metadata_max_age_ms=opts["metadata_max_age_ms"],
            max_in_flight_requests_per_connection=opts["max_in_flight_requests_per_connection"],
            allow_auto_topic_creation=False,
            nursery=nursery,
        )

    @property
    def cluster(self) -> Cluster:
        """The connection layer this client talks through."""
        return self._cluster

    async def start(self) -> None:
        """Connect and load the cluster's metadata."""
        await self._cluster.start()

    async def close(self) -> None:
        """Disconnect."""
        await self._cluster.aclose()

    async def __aenter__(self) -> Admin:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ plumbing

    async def _retrying(self, operation: Any, timeout: float | None = None) -> Any:
        async def on_retriable(error: KafkaError) -> None:
            if error.invalid_metadata or error.error_code == ErrorCode.NOT_CONTROLLER:
                await self._cluster.refresh_metadata()

        return await retry_until(
            operation,
            deadline=trio.current_time() + (self._timeout if timeout is None else timeout),
            backoff=self._cluster.backoff,
            on_retriable=on_retriable,
        )

    async def _to_controller(self, api_key: ApiKey, body: dict, timeout_ms: int) -> dict:
        node = await self._cluster.controller()
        return await self._cluster.request(
            node, api_key, body, timeout=timeout_ms / 1000 + self._timeout
        )

    async def _coordinator_call(self, group_id: str, api_key: ApiKey, body: dict) -> dict:
        node = await self._cluster.coordinator_for(group_id)
        try:
            return await self._cluster.request(node, api_key, body)
        except KafkaError as exc:
            if exc.retriable:
                self._cluster.invalidate_coordinator(group_id)
            raise

    def _coordinator_error(self, group_id: str, code: int, what: str) -> KafkaError:
        if code in (ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE):
            self._cluster.invalidate_coordinator(group_id)
        return error_for(code, f"{what} group {group_id!r}")

    # ------------------------------------------------------------------ topics

    async def create_topics(
        self,
        topics: Iterable[NewTopic],
        *,
        timeout_ms: int = 30_000,
        validate_only: bool = False,
    ) -> None:
        """Create topics; raises the first failure (e.g. TopicAlreadyExistsError) after all
        were attempted."""
        pending = {t.name: t for t in topics}
        errors: dict[str, KafkaError] = {}

        async def attempt() -> None:
            body = {
                "topics": [
                    {
                        "name": t.name,
                        "num_partitions": t.num_partitions,
                        "replication_factor": t.replication_factor,
                        "assignments": [],
                        "configs": [{"name": k, "value": v} for k, v in t.configs.items()],
                    }
                    for t in pending.values()
                ],
                "timeout_ms": timeout_ms,
                "validate_only": validate_only,
            }
            response = await self._to_controller(ApiKey.CREATE_TOPICS, body, timeout_ms)
            _settle_topic_results(response["topics"], pending, errors)

        if pending:
            await self._retrying(attempt, timeout_ms / 1000 + self._timeout)
            await self._cluster.refresh_metadata(all_topics=True)
        _first_failure(errors)

    async def create_topic(
        self,
        name: str,
        num_partitions: int = 1,
        replication_factor: int = 1,
        configs: Mapping[str, str] | None = None,
    ) -> None:
        """Create one topic (see :meth:`create_topics`)."""
        topic = NewTopic(name, num_partitions, replication_factor, configs or {})
        await self.create_topics([topic])

    async def delete_topics(self, names: Iterable[str], *, timeout_ms: int = 30_000) -> None:
        """Delete topics; raises the first failure (e.g. UnknownTopicOrPartitionError)."""
        pending = set(names)
        errors: dict[str, KafkaError] = {}

        async def attempt() -> None:
            body = {
                "topic_names": sorted(pending),
                "topics": [{"name": n} for n in sorted(pending)],
                "timeout_ms": timeout_ms,
            }
            response = await self._to_controller(ApiKey.DELETE_TOPICS, body, timeout_ms)
            # A topic that does not exist will not appear by asking again.
            _settle_topic_results(
                response["responses"], pending, errors,
                final_codes=frozenset({ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}),
            )

        if pending:
            await self._retrying(attempt, timeout_ms / 1000 + self._timeout)
            await self._cluster.refresh_metadata(all_topics=True)
        _first_failure(errors)

    async def list_topics(self, include_internal: bool = False) -> list[str]:
        """Names of every topic, sorted; internal ones (``__consumer_offsets``) on request."""
        metadata = await self._retrying(lambda: self._cluster.refresh_metadata(all_topics=True))
        return sorted(
            name for name, info in metadata.topics.items()
            if include_internal or not info.is_internal
        )

    async def describe_topics(
        self, names: Iterable[str] | None = None
    ) -> dict[str, TopicDescription]:
        """Partitions, leaders and replicas of ``names`` (every topic when None); raises
        UnknownTopicOrPartitionError for a topic that does not exist."""
        wanted = None if names is None else list(names)
        if wanted is None:
            metadata = await self._retrying(
                lambda: self._cluster.refresh_metadata(all_topics=True)
            )
            wanted = sorted(metadata.topics)
        else:
            metadata = await self._retrying(lambda: self._cluster.refresh_metadata(wanted))
        out: dict[str, TopicDescription] = {}
        errors: dict[str, KafkaError] = {}
        for name in wanted:
            info = metadata.topics.get(name)
            if info is None:
                code = metadata.topic_errors.get(name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
                errors[name] = error_for(code, f"topic {name!r}")
                continue
            parts = [
                PartitionDescription(p.partition, p.leader, p.leader_epoch, p.replicas, p.isr)
                for _, p in sorted(info.partitions.items())
            ]
            out[name] = TopicDescription(name, parts, info.is_internal)
        _first_failure(errors)
        return out

    async def create_partitions(
        self,
        new_counts: Mapping[str, int],
        *,
        timeout_ms: int = 30_000,
        validate_only: bool = False,
    ) -> None:
        """Grow topics to the given total partition counts."""
        pending = dict(new_counts)
        errors: dict[str, KafkaError] = {}

        async def attempt() -> None:
            body = {
                "topics": [
                    {"name": name, "count": count, "assignments": None}
                    for name, count in pending.items()
                ],
                "timeout_ms": timeout_ms,
                "validate_only": validate_only,
            }
            response = await self._to_controller(ApiKey.CREATE_PARTITIONS, body, timeout_ms)
            _settle_topic_results(response["results"], pending, errors)

        if pending:
            await self._retrying(attempt, timeout_ms / 1000 + self._timeout)
            await self._cluster.refresh_metadata(list(new_counts))
        _first_failure(errors)

    async def list_offsets(
        self, specs: Mapping[tuple[str, int], int], *, read_committed: bool = False
    ) -> dict[tuple[str, int], ListedOffset]:
        """Look up offsets by (topic, partition): OffsetSpec.EARLIEST, OffsetSpec.LATEST or a
        timestamp in ms (ListOffsets to each partition's leader)."""
        pending = {(t, p): int(spec) for (t, p), spec in specs.items()}
        out: dict[tuple[str, int], ListedOffset] = {}

        async def attempt() -> None:
            by_leader: dict[int, dict[str, list[dict]]] = {}
            for (topic, partition), spec in pending.items():
                node = await self._cluster.leader_for(topic, partition)
                by_leader.setdefault(node, {}).setdefault(topic, []).append(
                    {"partition_index": partition, "timestamp": spec, "current_leader_epoch": -1}
                )
            retry: KafkaError | None = None
            for node, topics in by_leader.items():
                body = {
                    "replica_id": -1,
                    "isolation_level": 1 if read_committed else 0,
                    "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()],
                }
                response = await self._cluster.request(node, ApiKey.LIST_OFFSETS, body)
                for topic in response["topics"]:
                    for part in topic["partitions"]:
                        key = (topic["name"], part["partition_index"])
                        if part["error_code"]:
                            error = error_for(part["error_code"], f"offsets of {key[0]}-{key[1]}")
                            if not error.retriable:
                                raise error
                            retry = error
                            continue
                        pending.pop(key, None)
                        out[key] = ListedOffset(
                            part["offset"], part["timestamp"], part.get("leader_epoch", -1)
                        )
            if retry is not None:
                raise retry

        if pending:
            await self._retrying(attempt)
        return out

    # ------------------------------------------------------------------ configs

    async def _config_node(self, resource_type: ResourceType, name: str) -> int:
        if resource_type in (ResourceType.BROKER, ResourceType.BROKER_LOGGER) and name:
            return int(name)
        candidates = self._cluster.connected_nodes() or list(self._cluster.metadata.brokers)
        if candidates:
            return candidates[0]
        return await self._cluster.controller()

    async def describe_configs(
        self,
        resource_type: ResourceType | str,
        name: str | int,
        keys: Iterable[str] | None = None,
    ) -> dict[str, ConfigEntry]:
        """Config entries of a topic (``"topic"``) or broker (``"broker"``, name = node id),
        by config name; only ``keys`` when given."""
        rtype = _resource_type(resource_type)
        rname = str(name)
        body = {
            "resources": [{
                "resource_type": rtype,
                "resource_name": rname,
                "configuration_keys": None if keys is None else list(keys),
            }],
            "include_synonyms": False,
            "include_documentation": False,
        }

        async def attempt() -> dict:
            node = await self._config_node(rtype, rname)
            return await self._cluster.request(node, ApiKey.DESCRIBE_CONFIGS, body)

        response = await self._retrying(attempt)
        result = response["results"][0]
        if result["error_code"]:
            raise error_for(
                result["error_code"],
                f"{rtype.name.lower()} {rname!r}: {result.get('error_message') or ''}",
            )
        entries = {}
        for entry in result["configs"]:
            source = entry.get("config_source", -1)
            is_default = entry.get("is_default", source == 5)
            entries[entry["name"]] = ConfigEntry(
                entry["name"], entry["value"], entry["read_only"], is_default,
                entry["is_sensitive"], source,
            )
        return entries

    async def alter_configs(
        self,
        resource_type: ResourceType | str,
        name: str | int,
        configs: Mapping[str, str | None],
        *,
        validate_only: bool = False,
    ) -> None:
        """Set config values (None deletes an override, back to the default).

        Uses IncrementalAlterConfigs, which touches only the named keys; a broker without it
        gets AlterConfigs with the current overrides merged in, so other keys survive.
        """
        rtype = _resource_type(resource_type)
        rname = str(name)

        async def attempt() -> dict:
            node = await self._config_node(rtype, rname)
            conn = await self._cluster.connection(node)
            if ApiKey.INCREMENTAL_ALTER_CONFIGS in conn.versions:
                body = {
                    "resources": [{
                        "resource_type": rtype,
                        "resource_name": rname,
                        "configs": [
                            {"name": k, "config_operation": 1 if v is None else 0, "value": v}
                            for k, v in configs.items()
                        ],
                    }],
                    "validate_only": validate_only,
                }
                return await self._cluster.request(node, ApiKey.INCREMENTAL_ALTER_CONFIGS, body)
            if ApiKey.ALTER_CONFIGS not in conn.versions:
                raise UnsupportedVersionByBrokerError("the broker cannot alter configs")
            current = await self.describe_configs(rtype, rname)
            merged = {
                k: e.value for k, e in current.items()
                if not e.is_default and not e.read_only and e.value is not None
            }
            for key, value in configs.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            body = {
                "resources": [{
                    "resource_type": rtype,
                    "resource_name": rname,
                    "configs": [{"name": k, "value": v} for k, v in merged.items()],
                }],
                "validate_only": validate_only,
            }
            return await self._cluster.request(node, ApiKey.ALTER_CONFIGS, body)

        response = await self._retrying(attempt)
        result = response["responses"][0]
        if result["error_code"]:
            raise error_for(
                result["error_code"],
                f"{rtype.name.lower()} {rname!r}: {result.get('error_message') or ''}",
            )

    # ------------------------------------------------------------------ groups

    async def list_groups(self) -> list[GroupListing]:
        """Every consumer group of the cluster (ListGroups to each broker), sorted by id."""
        metadata = await self._retrying(self._cluster.refresh_metadata)
        found: dict[str, GroupListing] = {}
        errors: dict[str, KafkaError] = {}
        for node in sorted(metadata.brokers):

            async def attempt(node: int = node) -> dict:
                response = await self._cluster.request(node, ApiKey.LIST_GROUPS, {})
                if response["error_code"]:
                    raise error_for(response["error_code"], f"ListGroups on broker {node}")
                return response

            try:
                response = await self._retrying(attempt)
            except KafkaError as exc:
                errors[str(node)] = exc
                continue
            for group in response["groups"]:
                found[group["group_id"]] = GroupListing(group["group_id"], group["protocol_type"])
        _first_failure(errors)
        return [found[g] for g in sorted(found)]

    async def describe_groups(self, group_ids: Iterable[str]) -> dict[str, GroupDescription]:
        """State, protocol and members of each group (from its coordinator)."""
        out: dict[str, GroupDescription] = {}
        errors: dict[str, KafkaError] = {}
        for group_id in group_ids:

            async def attempt(group_id: str = group_id) -> tuple[dict, int]:
                node = await self._cluster.coordinator_for(group_id)
                response = await self._coordinator_call(
                    group_id, ApiKey.DESCRIBE_GROUPS, {"groups": [group_id]}
                )
                group = response["groups"][0]
                if group["error_code"]:
                    raise self._coordinator_error(group_id, group["error_code"], "describe")
                return group, node

            try:
                group, node = await self._retrying(attempt)
            except KafkaError as exc:
                errors[group_id] = exc
                continue
            members = [
                GroupMember(
                    m["member_id"], m["client_id"], m["client_host"],
                    m.get("group_instance_id"), m["member_metadata"], m["member_assignment"],
                )
                for m in group["members"]
            ]
            out[group_id] = GroupDescription(
                group_id, group["group_state"], group["protocol_type"], group["protocol_data"],
                members, node,
            )
        _first_failure(errors)
        return out

    async def delete_groups(self, group_ids: Iterable[str]) -> None:
        """Delete empty groups and their committed offsets (NonEmptyGroupError otherwise)."""
        errors: dict[str, KafkaError] = {}
        for group_id in group_ids:

            async def attempt(group_id: str = group_id) -> None:
                response = await self._coordinator_call(
                    group_id, ApiKey.DELETE_GROUPS, {"groups_names": [group_id]}
                )
                code = response["results"][0]["error_code"]
                if code:
                    raise self._coordinator_error(group_id, code, "delete")

            try:
                await self._retrying(attempt)
            except KafkaError as exc:
                errors[group_id] = exc
        _first_failure(errors)

    async def alter_group_offsets(
        self,
        group_id: str,
        offsets: Mapping[tuple[str, int], int],
        metadata: str | None = "",
    ) -> None:
        """Set a group's committed offsets, as an admin (OffsetCommit with generation -1 and
        no member id). The group must have no active members (the broker refuses otherwise)."""
        by_topic: dict[str, list[dict]] = {}
        for (topic, partition), offset in offsets.items():
            by_topic.setdefault(topic, []).append({
                "partition_index": partition,
                "committed_offset": offset,
                "committed_metadata": metadata,
            })
        body = {
            "group_id": group_id,
            "generation_id_or_member_epoch": -1,
            "member_id": "",
            "topics": [{"name": t, "partitions": parts} for t, parts in by_topic.items()],
        }

        async def attempt() -> None:
            response = await self._coordinator_call(group_id, ApiKey.OFFSET_COMMIT, body)
            for topic in response["topics"]:
                for part in topic["partitions"]:
                    if part["error_code"]:
                        raise self._coordinator_error(
                            group_id, part["error_code"],
                            f"commit {topic['name']}-{part['partition_index']} for",
                        )

        await self._retrying(attempt)

    async def list_group_offsets(
        self, group_id: str, partitions: Iterable[tuple[str, int]] | None = None
    ) -> dict[tuple[str, int], int]:
        """A group's committed offsets by (topic, partition); all of them when
        ``partitions`` is None. Partitions without a commit are left out."""
        if partitions is None:
            topics = None
        else:
            grouped: dict[str, list[int]] = {}
            for topic, partition in partitions:
                grouped.setdefault(topic, []).append(partition)
            topics = [{"name": t, "partition_indexes": ps} for t, ps in grouped.items()]
        body = {"group_id": group_id, "topics": topics, "require_stable": False}

        async def attempt() -> dict[tuple[str, int], int]:
            response = await self._coordinator_call(group_id, ApiKey.OFFSET_FETCH, body)
            if response.get("error_code"):
                raise self._coordinator_error(group_id, response["error_code"], "offsets of")
            out = {}
            for topic in response["topics"]:
                for part in topic["partitions"]:
                    if part["error_code"]:
                        raise self._coordinator_error(group_id, part["error_code"], "offsets of")
                    if part["committed_offset"] >= 0:
                        out[(topic["name"], part["partition_index"])] = part["committed_offset"]
            return out

        return await self._retrying(attempt)

    # ------------------------------------------------------------------ cluster

    async def describe_log_dirs(
        self, brokers: Iterable[int] | None = None
    ) -> dict[int, dict[str, dict[tuple[str, int], ReplicaLogInfo]]]:
        """Each broker's log directories and the replicas in each, by (topic, partition)
        (DescribeLogDirs to every broker, or to ``brokers``)."""
        if brokers is None:
            metadata = await self._retrying(self._cluster.refresh_metadata)
            brokers = sorted(metadata.brokers)
        out: dict[int, dict[str, dict[tuple[str, int], ReplicaLogInfo]]] = {}
        for node in brokers:

            async def attempt(node: int = node) -> dict:
                return await self._cluster.request(
                    node, ApiKey.DESCRIBE_LOG_DIRS, {"topics": None}
                )

            response = await self._retrying(attempt)
            dirs: dict[str, dict[tuple[str, int], ReplicaLogInfo]] = {}
            for result in response["results"]:
                if result["error_code"]:
                    raise error_for(
                        result["error_code"], f"log dir {result['log_dir']} of broker {node}"
                    )
                dirs[result["log_dir"]] = {
                    (topic["name"], p["partition_index"]): ReplicaLogInfo(
                        p["partition_size"], p["offset_lag"], p["is_future_key"]
                    )
                    for topic in result["topics"]
                    for p in topic["partitions"]
                }
            out[node] = dirs
        return out

    async def describe_cluster(self) -> ClusterDescription:
        """Cluster id, controller and brokers (DescribeCluster, or Metadata on brokers
        without it)."""

        async def attempt() -> ClusterDescription:
            metadata = await self._cluster.refresh_metadata()
            node = next(iter(self._cluster.connected_nodes()), None)
            if node is None:
                node = sorted(metadata.brokers)[0]
            conn = await self._cluster.connection(node)
            if ApiKey.DESCRIBE_CLUSTER in conn.versions:
                response = await self._cluster.request(node, ApiKey.DESCRIBE_CLUSTER, {
                    "include_cluster_authorized_operations": False,
                })
                if response["error_code"]:
                    raise error_for(response["error_code"], response.get("error_message"))
                brokers = [
                    (b["broker_id"], b["host"], b["port"], b.get("rack"))
                    for b in response["brokers"]
                ]
                return ClusterDescription(
                    response["cluster_id"], response["controller_id"], sorted(brokers)
                )
            brokers = [(b.node_id, b.host, b.port, b.rack) for b in metadata.brokers.values()]
            return ClusterDescription(metadata.cluster_id, metadata.controller_id, sorted(brokers))

        return await self._retrying(attempt)


def _resource_type(value: ResourceType | str) -> ResourceType:
    if isinstance(value, ResourceType):
        return value
    if isinstance(value, str):
        try:
            return ResourceType[value.upper()]
        except KeyError:
            pass
    raise ValueError(f"resource type must be 'topic', 'broker' or a ResourceType, not {value!r}")
