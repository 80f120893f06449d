"""CreateTopics, DeleteTopics and CreatePartitions: topic administration over the controller.

Each topic in a request gets its own error code and message; one bad topic never fails the
others.  ``validate_only`` checks everything and changes nothing.

On a single node the handler hosts what it wrote at once.  In a cluster the controller's
records go to the shared store and every broker's metadata watch hosts them; the handler
answers once its own broker has applied the write (or after a short wait), so a client that
asks this broker right after sees the topic, and clients of other brokers retry on
LEADER_NOT_AVAILABLE until theirs has.
"""

from __future__ import annotations

from typing import Any

from client.protocol import ErrorCode, RequestHeader

from broker.api.cluster import cluster_of
from broker.api.state import BrokerState, state_of
from broker.metadata.controller import NewTopic, TopicError
from broker.metadata.records import TopicRecord, list_partitions, topic_key
from broker.server.context import RequestContext

Body = dict[str, Any]


async def host_topic(state: BrokerState, record: TopicRecord) -> None:
    """Open this broker's partitions of a topic just written to the store (in a cluster:
    wait until this broker's metadata watch has)."""
    cluster = cluster_of(state)
    if cluster is not None:
        await settle(state, record.name)
        return
    states = await list_partitions(state.controller.store, record.name)
    state.replicas.apply_topic(record, [s for s, _ in states.values()])


async def settle(state: BrokerState, name: str) -> None:
    """In a cluster: wait until this broker has applied the store's current record of topic
    ``name`` (or its deletion)."""
    cluster = cluster_of(state)
    if cluster is None:
        return
    found = await cluster.store.get(topic_key(name))
    if found is not None:
        await cluster.wait_applied(found.version)
    else:
        await cluster.wait_gone(name)


async def create_and_host(
    state: BrokerState, topic: NewTopic, validate_only: bool
) -> tuple[TopicRecord | None, list[list[int]], dict[str, str]]:
    """Create a topic through the controller and host its partitions here."""
    cluster = cluster_of(state)
    if cluster is not None:
        await cluster.wait_member()
    record, plan, overrides = await state.controller.create(topic, validate_only)
    if record is not None:
        await host_topic(state, record)
    return record, plan, overrides


async def handle_create_topics(ctx: RequestContext, header: RequestHeader, body: Body) -> Body:
    """Create each requested topic, or only validate it."""
    state = state_of(ctx)
    validate_only = body.get("validate_only", False)
    results = []
    seen: set[str] = set()
    for request in body["topics"]:
        name = request["name"]
        result: Body = {"name": name, "error_code": ErrorCode.NONE, "error_message": None}
        if name in seen:
            result.update(
                error_code=ErrorCode.INVALID_REQUEST,
                error_message=f"topic {name!r} appears more than once in the request",
            )
            results.append(result)
            continue
        seen.add(name)
        topic = NewTopic(
            name,
            request["num_partitions"],
            request["replication_factor"],
            {a["partition_index"]: a["broker_ids"] for a in request.get("assignments", [])},
            {c["name"]: c["value"] for c in request.get("configs", [])},
        )
        try:
            record, plan, overrides = await create_and_host(state, topic, validate_only)
        except TopicError as exc:
            result.update(error_code=exc.code, error_message=str(exc))
        else:
            config = state.replicas.topic_defaults.with_overrides(overrides).to_properties()
            result.update(
                topic_id=record.topic_id if record is not None else None,
                num_partitions=len(plan),
                replication_factor=len(plan[0]) if plan else -1,
                configs=[
                    {
                        "name": key,
                        "value": value,
                        "read_only": False,
                        "config_source": 1 if key in overrides else 5,
                        "is_sensitive": False,
                    }
                    for key, value in sorted(config.items())
                ],
            )
        results.append(result)
    return {"throttle_time_ms": 0, "topics": results}


async def handle_delete_topics(ctx: RequestContext, header: RequestHeader, body: Body) -> Body:
    """Delete each named topic (by name; topic ids for v6+ are looked up)."""
    state = state_of(ctx)
    if header.api_version >= 6:
        by_id = {record.topic_id: name for name, record in state.replicas.topics.items()}
        wanted = [
            (t.get("name") or by_id.get(t.get("topic_id")), t.get("topic_id"))
            for t in body.get("topics", [])
        ]
    else:
        wanted = [(name, None) for name in body.get("topic_names", [])]
    responses = []
    for name, topic_id in wanted:
        response: Body = {"name": name, "error_code": ErrorCode.NONE}
        if topic_id is not None:
            response["topic_id"] = topic_id
        if name is None:
            response["error_code"] = ErrorCode.UNKNOWN_TOPIC_ID
            responses.append(response)
            continue
        record = state.replicas.topics.get(name)
        try:
            await state.controller.delete(name)
        except TopicError as exc:
            response.update(error_code=exc.code, error_message=str(exc))
        else:
            if cluster_of(state) is None:
                state.replicas.remove_topic(name)
            else:
                await settle(state, name)
            if record is not None and topic_id is None and header.api_version >= 6:
                response["topic_id"] = record.topic_id
        responses.append(response)
    return {"throttle_time_ms": 0, "responses": responses}


async def handle_create_partitions(
    ctx: RequestContext, header: RequestHeader, body: Body
) -> Body:
    """Grow topics to the requested partition counts."""
    state = state_of(ctx)
    results = []
    for request in body["topics"]:
        name = request["name"]
        assignments = request.get("assignments")
        result: Body = {"name": name, "error_code": ErrorCode.NONE, "error_message": None}
        try:
            record = await state.controller.add_partitions(
                name,
                request["count"],
                None if assignments is None else [a["broker_ids"] for a in assignments],
                body.get("validate_only", False),
            )
        except TopicError as exc:
            result.update(error_code=exc.code, error_message=str(exc))
        else:
            if record is not None:
                await host_topic(state, record)
        results.append(result)
    return {"throttle_time_ms": 0, "results": results}
