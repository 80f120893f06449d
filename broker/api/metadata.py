"""Metadata and DescribeCluster: who the brokers are and who leads each partition.

Metadata may create topics that do not exist yet (``auto.create.topics.enable`` and the
request's ``allow_auto_topic_creation``), as Kafka does; a null topic list means every topic,
an empty one none.
"""

from __future__ import annotations

from typing import Any

from client.protocol import ErrorCode, RequestHeader

from broker.api.state import BrokerState, state_of
from broker.api.topics import create_and_host
from broker.metadata.controller import INTERNAL_TOPICS, NewTopic, TopicError
from broker.server.context import RequestContext

Body = dict[str, Any]


def broker_endpoints(state: BrokerState) -> list[tuple[int, str, int]]:
    """(node id, host, port) of every live broker, as clients should reach them."""
    listeners = state.services.advertised_listeners()
    if not listeners:
        return []
    first = listeners[0]
    return [(state.node_id, first.host, first.port)]


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
    requested = body.get("topics")
    if requested is None or (header.api_version == 0 and not requested):
        names = sorted(state.replicas.topics)
    else:
        names = [topic.get("name") or "" for topic in requested]
    allow_create = state.config.auto_create_topics_enable and body.get(
        "allow_auto_topic_creation", True
    )
    topics = []
    for name in names:
        if name not in state.replicas.topics and allow_create:
            try:
                await create_and_host(
                    state, NewTopic(name, -1, -1, {}, {}), validate_only=False
                )
            except TopicError as exc:
                if exc.code != ErrorCode.TOPIC_ALREADY_EXISTS:
                    topics.append({"error_code": exc.code, "name": name, "partitions": []})
                    continue
        if name in state.replicas.topics:
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
        "controller_id": state.node_id,
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
        "controller_id": state.node_id,
        "brokers": [
            {"broker_id": node, "host": host, "port": port, "rack": None}
            for node, host, port in broker_endpoints(state)
        ],
    }
