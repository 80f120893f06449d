"""A tiny Kafka protocol peer on loopback for the SDK's unit tests.

It speaks the real codec (``client.protocol``) over real TCP, answers in request order, and
keeps just enough state to act as a broker: topics with partition counts, a log of record
batches per partition with offsets assigned, idempotent-producer sequence checks, and
per-API hooks a test can replace to inject errors, delays or leader moves. Several
``FakeBroker``\\ s can share one ``FakeState`` to form a cluster.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from client.protocol import (
    SUPPORTED_VERSIONS,
    ApiKey,
    ErrorCode,
    FrameDecoder,
    RequestHeader,
    UnsupportedVersionError,
    api_versions_error_response,
    decode_request,
    encode_response,
)
from client.records import decode_batches

Handler = Callable[[RequestHeader, dict], Awaitable[dict | None] | dict | None]

_BATCH_FIELDS = struct.Struct(">qi")  # base offset, batch length
_PRODUCER_FIELDS = struct.Struct(">qhii")  # producer id, epoch, base sequence, record count


@dataclass
class FakeState:
    """What every broker of a fake cluster agrees on."""

    topics: dict[str, int] = field(default_factory=dict)
    leaders: dict[tuple[str, int], int] = field(default_factory=dict)
    leader_epochs: dict[tuple[str, int], int] = field(default_factory=dict)
    logs: dict[tuple[str, int], list[bytes]] = field(default_factory=lambda: defaultdict(list))
    next_offset: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    # (producer_id, topic, partition) -> (last sequence, last base offset) per appended batch
    sequences: dict[tuple[int, str, int], list[tuple[int, int, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    next_producer_id: int = 1000
    brokers: dict[int, FakeBroker] = field(default_factory=dict)
    controller: int = 0
    configs: dict[str, dict[str, str | None]] = field(default_factory=dict)
    groups: dict[str, dict[tuple[str, int], int]] = field(default_factory=dict)

    def add_topic(self, name: str, partitions: int, leader: int = 0) -> None:
        """Create ``name`` with every partition led by ``leader``."""
        self.topics[name] = partitions
        self.configs.setdefault(name, {})
        for p in range(partitions):
            self.leaders[(name, p)] = leader
            self.leader_epochs[(name, p)] = 0

    def records(self, topic: str, partition: int) -> list:
        """Every record appended to the partition, in offset order."""
        out = []
        for batch in decode_batches(b"".join(self.logs[(topic, partition)])):
            out.extend(batch.records)
        return out

    def batches(self, topic: str, partition: int) -> list:
        """Every batch appended to the partition."""
        return decode_batches(b"".join(self.logs[(topic, partition)]))


class FakeBroker:
    """One fake broker. ``hooks[api_key]`` overrides the built-in handler for that API;
    ``requests`` records every (header, body) received; ``advertised`` is what ApiVersions
    answers with."""

    def __init__(self, state: FakeState | None = None, node_id: int = 0) -> None:
        self.state = state if state is not None else FakeState()
        self.node_id = node_id
        self.state.brokers[node_id] = self
        self.port = 0
        self.hooks: dict[int, Handler] = {}
        self.requests: list[tuple[RequestHeader, dict]] = []
        self.advertised: dict[int, tuple[int, int]] = dict(SUPPORTED_VERSIONS)
        self.connections = 0
        self._listeners: list[trio.SocketListener] = []
        self._scope = trio.CancelScope()

    def count(self, api_key: ApiKey) -> int:
        """How many requests of this API arrived."""
        return sum(1 for h, _ in self.requests if h.api_key == api_key)

    async def start(self, nursery: trio.Nursery) -> FakeBroker:
        """Listen on a loopback port and serve until the nursery ends or :meth:`stop`."""
        self._listeners = await trio.open_tcp_listeners(self.port, host="127.0.0.1")
        self.port = self._listeners[0].socket.getsockname()[1]
        self._scope = trio.CancelScope()
        nursery.start_soon(self._serve)
        return self

    async def _serve(self) -> None:
        with self._scope:
            await trio.serve_listeners(self._connection, self._listeners)

    def stop(self) -> None:
        """Stop listening and drop every connection (a crash, as seen from the client)."""
        self._scope.cancel()

    @property
    def bootstrap(self) -> str:
        """This broker's ``host:port``."""
        return f"127.0.0.1:{self.port}"

    async def _connection(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        decoder = FrameDecoder(64 * 1024 * 1024)
        async with stream:
            while True:
                try:
                    data = await stream.receive_some(65536)
                except trio.BrokenResourceError:
                    return
                if not data:
                    return
                decoder.receive_data(data)
                while (frame := decoder.next_frame()) is not None:
                    try:
                        header, body = decode_request(frame)
                    except UnsupportedVersionError as exc:
                        if exc.header.api_key == ApiKey.API_VERSIONS:
                            await stream.send_all(
                                api_versions_error_response(exc.header.correlation_id)
                            )
                            continue
                        raise
                    self.requests.append((header, body))
                    if (
                        header.api_key == ApiKey.API_VERSIONS
                        and header.api_version > self.advertised[ApiKey.API_VERSIONS][1]
                    ):
                        # as a real broker: the v0 body, error 35, our own range
                        v0 = RequestHeader(ApiKey.API_VERSIONS, 0, header.correlation_id, None)
                        reply = self._api_versions(header, body)
                        reply["error_code"] = ErrorCode.UNSUPPORTED_VERSION
                        await stream.send_all(encode_response(v0, reply))
                        continue
                    reply = await self.handle(header, body)
                    if reply is not None:
                        try:
                            await stream.send_all(encode_response(header, reply))
                        except (trio.BrokenResourceError, trio.ClosedResourceError):
                            return

    async def handle(self, header: RequestHeader, body: dict) -> dict | None:
        """The reply body for one request (hook first, built-in handler otherwise)."""
        hook = self.hooks.get(header.api_key)
        handler: Any = hook if hook is not None else getattr(
            self, f"_{ApiKey(header.api_key).name.lower()}"
        )
        reply = handler(header, body)
        if isinstance(reply, Awaitable):
            reply = await reply
        return reply

    # -- built-in handlers -------------------------------------------------------------

    def _api_versions(self, header: RequestHeader, body: dict) -> dict:
        return {
            "error_code": 0,
            "api_keys": [
                {"api_key": int(k), "min_version": lo, "max_version": hi}
                for k, (lo, hi) in self.advertised.items()
            ],
        }

    def _metadata(self, header: RequestHeader, body: dict) -> dict:
        st = self.state
        names = list(st.topics) if body["topics"] is None else [t["name"] for t in body["topics"]]
        if header.api_version == 0 and not names:
            names = list(st.topics)
        topics = []
        for name in names:
            if name not in st.topics:
                topics.append({"error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "name": name,
                               "partitions": []})
                continue
            parts = []
            for p in range(st.topics[name]):
                leader = st.leaders[(name, p)]
                parts.append({
                    "error_code": 0 if leader >= 0 else ErrorCode.LEADER_NOT_AVAILABLE,
                    "partition_index": p,
                    "leader_id": leader,
                    "leader_epoch": st.leader_epochs[(name, p)],
                    "replica_nodes": [max(leader, 0)],
                    "isr_nodes": [max(leader, 0)],
                })
            topics.append({"error_code": 0, "name": name, "partitions": parts})
        return {
            "brokers": [
                {"node_id": b.node_id, "host": "127.0.0.1", "port": b.port}
                for b in st.brokers.values()
            ],
            "cluster_id": "fake",
            "controller_id": st.controller,
            "topics": topics,
        }

    def _init_producer_id(self, header: RequestHeader, body: dict) -> dict:
        self.state.next_producer_id += 1
        return {"error_code": 0, "producer_id": self.state.next_producer_id, "producer_epoch": 0}

    def _find_coordinator(self, header: RequestHeader, body: dict) -> dict:
        return {"error_code": 0, "node_id": self.node_id, "host": "127.0.0.1", "port": self.port}

    def produce_partition(self, topic: str, partition: int, records: bytes) -> dict:
        """Append one partition's records as a leader would; returns the partition response."""
        st = self.state
        key = (topic, partition)
        if topic not in st.topics or partition >= st.topics[topic]:
            return {"index": partition, "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                    "base_offset": -1}
        if st.leaders[key] != self.node_id:
            return {"index": partition, "error_code": ErrorCode.NOT_LEADER_OR_FOLLOWER,
                    "base_offset": -1}
        base = st.next_offset[key]
        data = bytearray(records)
        pos = 0
        headers = []
        while pos < len(data):
            length = _BATCH_FIELDS.unpack_from(data, pos)[1]
            pid, _epoch, seq, count = _PRODUCER_FIELDS.unpack_from(data, pos + 43)
            headers.append((pos, pid, seq, count))
            pos += 12 + length
        for _, pid, seq, count in headers:
            if pid >= 0:
                seen = st.sequences[(pid, topic, partition)]
                for first, _last, offset in seen[-5:]:
                    if first == seq:
                        return {"index": partition, "error_code": 0, "base_offset": offset}
                expected = seen[-1][1] + 1 if seen else 0
                if seq != expected:
                    return {"index": partition,
                            "error_code": ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                            "base_offset": -1}
                seen.append((seq, seq + count - 1, st.next_offset[key]))
        for pos, _, _, count in headers:
            struct.pack_into(">q", data, pos, st.next_offset[key])
            st.next_offset[key] += count
        st.logs[key].append(bytes(data))
        return {"index": partition, "error_code": 0, "base_offset": base}

    def _produce(self, header: RequestHeader, body: dict) -> dict | None:
        responses = []
        for topic in body["topic_data"]:
            parts = [
                self.produce_partition(topic["name"], p["index"], bytes(p["records"]))
                for p in topic["partition_data"]
            ]
            responses.append({"name": topic["name"], "partition_responses": parts})
        if body["acks"] == 0:
            return None
        return {"responses": responses}

    # -- admin ----------------------------------------------------------------------

    def _create_topics(self, header: RequestHeader, body: dict) -> dict:
        results = []
        for topic in body["topics"]:
            name = topic["name"]
            if name in self.state.topics:
                code = ErrorCode.TOPIC_ALREADY_EXISTS
            elif topic["num_partitions"] == 0:
                code = ErrorCode.INVALID_PARTITIONS
            else:
                code = 0
                if not body["validate_only"]:
                    count = topic["num_partitions"] if topic["num_partitions"] > 0 else 1
                    self.state.add_topic(name, count)
                    self.state.configs[name] = {c["name"]: c["value"] for c in topic["configs"]}
            results.append({"name": name, "error_code": code, "error_message": None})
        return {"topics": results}

    def _delete_topics(self, header: RequestHeader, body: dict) -> dict:
        results = []
        for name in body["topic_names"]:
            if name in self.state.topics:
                del self.state.topics[name]
                code = 0
            else:
                code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            results.append({"name": name, "error_code": code})
        return {"responses": results}

    def _create_partitions(self, header: RequestHeader, body: dict) -> dict:
        results = []
        for topic in body["topics"]:
            name, count = topic["name"], topic["count"]
            current = self.state.topics.get(name)
            if current is None:
                code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif count <= current:
                code = ErrorCode.INVALID_PARTITIONS
            else:
                code = 0
                for p in range(current, count):
                    self.state.leaders[(name, p)] = 0
                    self.state.leader_epochs[(name, p)] = 0
                self.state.topics[name] = count
            results.append({"name": name, "error_code": code, "error_message": None})
        return {"results": results}

    def _describe_configs(self, header: RequestHeader, body: dict) -> dict:
        results = []
        for res in body["resources"]:
            name = res["resource_name"]
            configs = self.state.configs.get(name)
            if configs is None:
                results.append({"error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                "error_message": None, "resource_type": res["resource_type"],
                                "resource_name": name, "configs": []})
                continue
            entries = dict(self.DEFAULT_CONFIGS, **configs)
            keys = res["configuration_keys"]
            results.append({
                "error_code": 0, "error_message": None,
                "resource_type": res["resource_type"], "resource_name": name,
                "configs": [
                    {"name": k, "value": v, "read_only": False, "is_sensitive": False,
                     "config_source": 1 if k in configs else 5, "is_default": k not in configs,
                     "synonyms": []}
                    for k, v in entries.items() if keys is None or k in keys
                ],
            })
        return {"results": results}

    DEFAULT_CONFIGS = {"cleanup.policy": "delete", "retention.ms": "604800000"}

    def _incremental_alter_configs(self, header: RequestHeader, body: dict) -> dict:
        responses = []
        for res in body["resources"]:
            configs = self.state.configs.setdefault(res["resource_name"], {})
            for entry in res["configs"]:
                if entry["config_operation"] == 1:
                    configs.pop(entry["name"], None)
                else:
                    configs[entry["name"]] = entry["value"]
            responses.append({"error_code": 0, "error_message": None,
                              "resource_type": res["resource_type"],
                              "resource_name": res["resource_name"]})
        return {"responses": responses}

    def _alter_configs(self, header: RequestHeader, body: dict) -> dict:
        responses = []
        for res in body["resources"]:
            self.state.configs[res["resource_name"]] = {
                c["name"]: c["value"] for c in res["configs"]
            }
            responses.append({"error_code": 0, "error_message": None,
                              "resource_type": res["resource_type"],
                              "resource_name": res["resource_name"]})
        return {"responses": responses}

    def _list_groups(self, header: RequestHeader, body: dict) -> dict:
        return {"error_code": 0, "groups": [
            {"group_id": g, "protocol_type": "consumer"} for g in sorted(self.state.groups)
        ]}

    def _describe_groups(self, header: RequestHeader, body: dict) -> dict:
        groups = []
        for group_id in body["groups"]:
            if group_id in self.state.groups:
                groups.append({"error_code": 0, "group_id": group_id, "group_state": "Empty",
                               "protocol_type": "consumer", "protocol_data": "", "members": []})
            else:
                groups.append({"error_code": 0, "group_id": group_id, "group_state": "Dead",
                               "protocol_type": "", "protocol_data": "", "members": []})
        return {"groups": groups}

    def _delete_groups(self, header: RequestHeader, body: dict) -> dict:
        results = []
        for group_id in body["groups_names"]:
            code = 0 if self.state.groups.pop(group_id, None) is not None else (
                ErrorCode.GROUP_ID_NOT_FOUND
            )
            results.append({"group_id": group_id, "error_code": code})
        return {"results": results}

    def _offset_commit(self, header: RequestHeader, body: dict) -> dict:
        group = self.state.groups.setdefault(body["group_id"], {})
        topics = []
        for topic in body["topics"]:
            parts = []
            for part in topic["partitions"]:
                group[(topic["name"], part["partition_index"])] = part["committed_offset"]
                parts.append({"partition_index": part["partition_index"], "error_code": 0})
            topics.append({"name": topic["name"], "partitions": parts})
        return {"topics": topics}

    def _offset_fetch(self, header: RequestHeader, body: dict) -> dict:
        group = self.state.groups.get(body["group_id"], {})
        by_topic: dict[str, list] = {}
        for (topic, partition), offset in sorted(group.items()):
            by_topic.setdefault(topic, []).append({
                "partition_index": partition, "committed_offset": offset, "metadata": "",
                "error_code": 0,
            })
        return {"error_code": 0, "topics": [
            {"name": t, "partitions": ps} for t, ps in by_topic.items()
        ]}

    def _describe_cluster(self, header: RequestHeader, body: dict) -> dict:
        return {"error_code": 0, "cluster_id": "fake", "controller_id": self.state.controller,
                "brokers": [{"broker_id": b.node_id, "host": "127.0.0.1", "port": b.port}
                            for b in self.state.brokers.values()]}
