"""Metadata and DescribeCluster: who the brokers are and who leads each partition.

Metadata may create topics that do not exist yet (``auto.create.topics.enable`` and the
request's ``allow_auto_topic_creation``), as Kafka does; a null topic list means every topic,
an empty one none.

In a cluster the answers come from the cluster view and this broker's metadata image: every
live broker with its advertised endpoint, the controller, and per partition the stored leader,
leader epoch, replicas and ISR.  A partition without a live leader answers
LEADER_NOT_AVAILABLE with leader -1.
"""

from __future__ import annotations

from typing import Any

from client.protocol import ErrorCode, RequestHeader

from broker.api.cluster import ClusterRuntime, cluster_of
from broker.api.state import BrokerState, state_of
from broker.api.topics import create_and_host
from broker.metadata.controller import INTERNAL_TOPICS, NewTopic, TopicError
from broker.server.context import RequestContext

Body = dict[str, Any]


def broker_endpoints(state: BrokerState) -> list[tuple[int, str, int]]:
    """(node id, host, port) of every live broker, as clients should reach them."""
    listeners = state.services.advertised_listeners()
    own = [(state.node_id, listeners[0].host, listeners[0].port)] if listeners else []
    cluster = cluster_of(state)
    if cluster is None:
        return own
    live = [(b.node_id, b.host, b.port) for _, b in sorted(cluster.view.live().items())]
    # A broker answers before its registration is in the store (it registers the endpoint
    # it listens on); it is alive, and a client must not be told the cluster is empty.
    if state.node_id not in cluster.view.live():
        live = sorted(live + own)
    return live


def controller_id(state: BrokerState) -> int:
    """The controller's node id (-1 while there is none)."""
    cluster = cluster_of(state)
    return state.node_id if cluster is None else cluster.view.controller_id


def describe_cluster_topic(cluster: ClusterRuntime, name: str) -> Body:
    """A Metadata response entry for one topic of the cluster, from the stored states."""
    record = cluster.image.topics[name]
    live = cluster.view.live()
    partitions = []
    for index in range(record.partitions):
        s = cluster.image.state(name, index)
        if s is None:
            partitions.append({"error_code": ErrorCode.LEADER_NOT_AVAILABLE,
                               "partition_index": index, "leader_id": -1,
                               "replica_nodes": [], "isr_nodes": []})  # fmt: skip
            continue
        online = s.leader != -1 and s.leader in live
        partitions.append(
            {
                "error_code": ErrorCode.NONE if online else ErrorCode.LEADER_NOT_AVAILABLE,
                "partition_index": index,
                "leader_id": s.leader if online else -1,
                "leader_epoch": s.leader_epoch,
                "replica_nodes": list(s.replicas),
                "isr_nodes": list(s.isr),
                "offline_replicas": [r for r in s.replicas if r not in live],
            }
        )
    return {
        "error_code": ErrorCode.NONE,
        "name": name,
        "topic_id": record.topic_id,
        "is_internal": name in INTERNAL_TOPICS,
        "partitions": partitions,
    }


def describe_topic(state: BrokerState, name: str) -> Body:
    """A Metadata response entry for one hosted topic."""
    record = state.replicas.topics[name]
    partitions = []
    for index in range(record.partitions):
        partition = state.replicas.get(name, index)
        if partition is None:
            partitions.append(
                {
                    "error_code": ErrorCode.LEADER_NOT_AVAILABLE,
                    "partition_index": index,
                    "leader_id": -1,
                    "replica_nodes": [],
                    "isr_nodes": [],
                }
            )
            continue
        s = partition.state
        partitions.append(
            {
                "error_code": ErrorCode.NONE,
                "partition_index": index,
                "leader_id": s.leader,
                "leader_epoch": s.leader_epoch,
                "replica_nodes": list(s.replicas),
                "isr_nodes": list(s.isr),
                "offline_replicas": [],
            }
        )
    return {
        "error_code": ErrorCode.NONE,
        "name": name,
        "topic_id": record.topic_id,
        "is_internal": name in INTERNAL_TOPICS,
        "partitions": partitions,
    }


async def handle_metadata(ctx: RequestContext, header: RequestHeader, body: Body) -> Body:
    """Brokers, controller and the requested topics (creating missing ones when allowed)."""
    state = state_of(ctx)
    cluster = cluster_of(state)
    known = state.replicas.topics if cluster is None else cluster.image.topics
    requested = body.get("topics")
    if requested is None or (header.api_version == 0 and not requested):
        names = sorted(known)
    else:
        names = [topic.get("name") or "" for topic in requested]
    allow_create = state.config.auto_create_topics_enable and body.get(
        "allow_auto_topic_creation", True
    )
    topics = []
    for name in names:
        if name not in known and allow_create:
            try:
                await create_and_host(
                    state, NewTopic(name, -1, -1, {}, {}), validate_only=False
                )
            except TopicError as exc:
                if exc.code != ErrorCode.TOPIC_ALREADY_EXISTS:
                    topics.append({"error_code": exc.code, "name": name, "partitions": []})
                    continue
        if cluster is not None and name in known:
            topics.append(describe_cluster_topic(cluster, name))
        elif name in known:
            topics.append(describe_topic(state, name))
        else:
            topics.append(
                {"error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "name": name, "partitions": []}
            )
    return {
        "throttle_time_ms": 0,
        "brokers": [
            {"node_id": node, "host": host, "port": port, "rack": None}
            for node, host, port in broker_endpoints(state)
        ],
        "cluster_id": state.services.cluster_id,
        "controller_id": controller_id(state),
        "topics": topics,
    }


async def handle_describe_cluster(
    ctx: RequestContext, header: RequestHeader, body: Body
) -> Body:
    """The cluster id, the controller and every broker."""
    state = state_of(ctx)
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "cluster_id": state.services.cluster_id,
        "controller_id": controller_id(state),
        "brokers": [
            {"broker_id": node, "host": host, "port": port, "rack": None}
            for node, host, port in broker_endpoints(state)
        ],
    }
