"""Consumer group APIs: FindCoordinator and the group and offset requests it routes.

A group's coordinator is the leader of its ``__consumer_offsets`` partition.  The internal
topic is created on first use (compacted, ``offsets.topic.num.partitions`` partitions), as
Kafka does.  Requests for a group another broker coordinates get NOT_COORDINATOR, which sends
the client back to FindCoordinator.

Coordinators follow leadership: ``LeadershipFollower`` loads (replays) the groups of a
``__consumer_offsets`` partition when this broker becomes its leader and unloads them when it
stops leading, one partition at a time in one task.  In a cluster FindCoordinator answers the
broker the store names as the partition's leader.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from client.protocol import ApiKey, ErrorCode, RequestHeader

from broker.api.cluster import cluster_of
from broker.api.state import BrokerState, state_of
from broker.api.topics import create_and_host
from broker.coordinator.hosting import OFFSETS_TOPIC, GroupCoordinators
from broker.coordinator.service import CoordinatorService, CoordinatorUnavailable
from broker.metadata.controller import NewTopic, TopicError
from broker.server.context import RequestContext
from broker.server.errors import error_response_body

log = logging.getLogger("rillet.coordinator")

Body = dict[str, Any]
GROUP_KEY = 0
TRANSACTION_KEY = 1
COORDINATORS_KEY = "coordinators"
RELOAD_PAUSE_S = 0.2


def coordinators_of(state: BrokerState) -> GroupCoordinators:
    """The broker's group coordinator host."""
    return state.services.extras[COORDINATORS_KEY]


async def ensure_offsets_topic(state: BrokerState) -> None:
    """Create ``__consumer_offsets`` if needed and load the coordinators this broker hosts."""
    coordinators = coordinators_of(state)
    async with coordinators.ensure_lock:
        if OFFSETS_TOPIC not in state.replicas.topics:
            config = state.config
            factor = _offsets_replication_factor(state)
            if factor is None:
                return
            topic = NewTopic(
                OFFSETS_TOPIC,
                config.offsets_topic_num_partitions,
                factor,
                {},
                {
                    "cleanup.policy": "compact",
                    "segment.bytes": str(config.offsets_topic_segment_bytes),
                },
            )
            try:
                await create_and_host(state, topic, validate_only=False)
            except TopicError as exc:
                if exc.code != ErrorCode.TOPIC_ALREADY_EXISTS:
                    raise
        await follow_led_partitions(state, coordinators)


def _offsets_replication_factor(state: BrokerState) -> int | None:
    """Replicas for ``__consumer_offsets``, or None while too few brokers serve to place them.

    Creating it with fewer replicas than configured, because the first group arrived while
    brokers were still starting, would leave every committed offset on one disk for good."""
    cluster = state.controller.cluster
    if cluster is None or cluster.solo:
        return 1
    wanted = state.config.offsets_topic_replication_factor
    live = len(state.controller.live_brokers())
    if live < wanted:
        log.warning(
            "not creating %s yet: %d brokers serve, offsets.topic.replication.factor is %d",
            OFFSETS_TOPIC, live, wanted,
        )
        return None
    return wanted


async def follow_led_partitions(state: BrokerState, coordinators: GroupCoordinators) -> None:
    """Run a coordinator for exactly the ``__consumer_offsets`` partitions led here."""
    led = {
        index: partition
        for (topic, index), partition in list(state.replicas.partitions.items())
        if topic == OFFSETS_TOPIC and partition.is_leader
    }
    for index in sorted(coordinators.failed):
        coordinators.unload(index)
        log.info("reloading the groups of %s-%d after a failed write", OFFSETS_TOPIC, index)
    for index in list(coordinators.services):
        if index not in led:
            coordinators.unload(index)
            log.info("unloaded the groups of %s-%d: no longer its leader", OFFSETS_TOPIC, index)
    for _index, partition in sorted(led.items()):
        await coordinators.load(partition)


class LeadershipFollower:
    """Keeps the coordinators in step with leadership, woken by every leadership change."""

    def __init__(self, state: BrokerState) -> None:
        self.state = state
        self._wake = trio.Event()

    def partition_changed(self, partition: object, leading: bool) -> None:
        """A replica manager's leadership listener."""
        if getattr(partition, "topic", OFFSETS_TOPIC) == OFFSETS_TOPIC:
            self._wake.set()

    def nudge(self) -> None:
        """Check leadership again soon (after a metadata change)."""
        self._wake.set()

    async def run(self, coordinators: GroupCoordinators) -> None:
        """Load and unload coordinators until cancelled."""
        coordinators.on_failure = self.nudge
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            await follow_led_partitions(self.state, coordinators)
            # Many changes in a burst (a broker's leaderships moving), one pass; and a
            # coordinator whose writes keep failing is not replayed in a tight loop.
            await trio.sleep(RELOAD_PAUSE_S)


async def _service(state: BrokerState, group_id: str) -> CoordinatorService | None:
    coordinators = coordinators_of(state)
    service = coordinators.service_for(group_id)
    if service is None and OFFSETS_TOPIC not in state.replicas.topics:
        await ensure_offsets_topic(state)
        service = coordinators.service_for(group_id)
    return service


def _no_service_code(state: BrokerState, group_id: str) -> ErrorCode:
    """Why no coordinator answers here: still loading a partition this broker already leads
    (clients retry COORDINATOR_LOAD_IN_PROGRESS at the same broker), or not ours at all.

    Another broker's metadata can name this one as the new leader before this one has
    replayed the partition's groups; NOT_COORDINATOR then would make clients give up or
    look elsewhere, though this is the right broker."""
    index = coordinators_of(state).partition_of(group_id)
    partition = state.replicas.get(OFFSETS_TOPIC, index)
    if partition is not None and partition.is_leader:
        return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    return ErrorCode.NOT_COORDINATOR


def _error(header: RequestHeader, body: Body, code: ErrorCode) -> Body:
    answer = error_response_body(header.api_key, header.api_version, body, code)
    assert answer is not None, f"api {header.api_key} has no error shape"
    return answer


async def handle_find_coordinator(
    ctx: RequestContext, header: RequestHeader, body: Body
) -> Body:
    """This broker for groups whose partition it leads; transactions are not offered yet."""
    state = state_of(ctx)
    answer: Body = {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "error_message": None,
                    "node_id": -1, "host": "", "port": -1}  # fmt: skip
    if body.get("key_type", GROUP_KEY) != GROUP_KEY:
        answer.update(error_code=ErrorCode.COORDINATOR_NOT_AVAILABLE,
                      error_message="transactions are not supported")  # fmt: skip
        return answer
    cluster = cluster_of(state)
    if cluster is not None:
        if OFFSETS_TOPIC not in cluster.image.topics:
            await ensure_offsets_topic(state)
        index = coordinators_of(state).partition_of(body["key"])
        partition = cluster.image.state(OFFSETS_TOPIC, index)
        leader = partition.leader if partition is not None else -1
        endpoint = cluster.view.endpoint(leader)
        loading = leader == state.node_id and coordinators_of(state).services.get(index) is None
        if endpoint is None or loading:
            answer["error_code"] = ErrorCode.COORDINATOR_NOT_AVAILABLE
            return answer
        answer.update(node_id=leader, host=endpoint[0], port=endpoint[1])
        return answer
    if await _service(state, body["key"]) is None:
        answer["error_code"] = ErrorCode.COORDINATOR_NOT_AVAILABLE
        return answer
    listeners = state.services.advertised_listeners()
    answer.update(node_id=state.node_id, host=listeners[0].host, port=listeners[0].port)
    return answer


def _routed(
    call: Callable[[CoordinatorService, RequestContext, RequestHeader, Body], Awaitable[Body]],
) -> Callable[[RequestContext, RequestHeader, Body], Awaitable[Body]]:
    """A handler that sends the request to the service coordinating its ``group_id``."""

    async def handle(ctx: RequestContext, header: RequestHeader, body: Body) -> Body:
        state = state_of(ctx)
        service = await _service(state, body["group_id"])
        if service is None:
            return _error(header, body, _no_service_code(state, body["group_id"]))
        try:
            return await call(service, ctx, header, body)
        except CoordinatorUnavailable:
            return _error(header, body, ErrorCode.NOT_COORDINATOR)

    handle.__doc__ = call.__doc__
    return handle


@_routed
async def handle_join_group(s: CoordinatorService, ctx: RequestContext,
                            header: RequestHeader, body: Body) -> Body:  # fmt: skip
    """JoinGroup: held until the rebalance completes."""
    peer = ctx.connection.peer.rsplit(":", 1)[0]
    return await s.join_group(body, header.api_version, client_id=header.client_id or "",
                              client_host="/" + peer)  # fmt: skip


@_routed
async def handle_sync_group(s: CoordinatorService, ctx: RequestContext,
                            header: RequestHeader, body: Body) -> Body:  # fmt: skip
    """SyncGroup: followers wait for the leader's assignment."""
    return await s.sync_group(body, header.api_version)


@_routed
async def handle_heartbeat(s: CoordinatorService, ctx: RequestContext,
                           header: RequestHeader, body: Body) -> Body:  # fmt: skip
    """Heartbeat."""
    return await s.heartbeat(body, header.api_version)


@_routed
async def handle_leave_group(s: CoordinatorService, ctx: RequestContext,
                             header: RequestHeader, body: Body) -> Body:  # fmt: skip
    """LeaveGroup."""
    return await s.leave_group(body, header.api_version)


@_routed
async def handle_offset_fetch(s: CoordinatorService, ctx: RequestContext,
                              header: RequestHeader, body: Body) -> Body:  # fmt: skip
    """OffsetFetch for named partitions or (topics null) all of them."""
    return await s.fetch_offsets(body, header.api_version)


@_routed
async def handle_offset_delete(s: CoordinatorService, ctx: RequestContext,
                               header: RequestHeader, body: Body) -> Body:  # fmt: skip
    """OffsetDelete."""
    return await s.delete_offsets(body, header.api_version)


@_routed
async def handle_offset_commit(s: CoordinatorService, ctx: RequestContext,
                               header: RequestHeader, body: Body) -> Body:  # fmt: skip
    """OffsetCommit; partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION."""
    state = state_of(ctx)
    known: list[Body] = []
    unknown: list[Body] = []
    for topic in body["topics"]:
        record = state.replicas.topics.get(topic["name"])
        good = [p for p in topic["partitions"]
                if record is not None and 0 <= p["partition_index"] < record.partitions]  # fmt: skip
        bad = [p for p in topic["partitions"] if p not in good]
        if good:
            known.append({**topic, "partitions": good})
        if bad:
            unknown.append({"name": topic["name"], "partitions": [
                {"partition_index": p["partition_index"],
                 "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION} for p in bad]})  # fmt: skip
    if not unknown:
        return await s.commit_offsets(body, header.api_version)
    answer = (
        await s.commit_offsets({**body, "topics": known}, header.api_version)
        if known
        else {"throttle_time_ms": 0, "topics": []}
    )
    answer["topics"] = list(answer["topics"]) + unknown
    return answer


async def _by_partition(
    state: BrokerState, group_ids: list[str]
) -> tuple[dict[int, list[str]], list[str]]:
    """Group ids by the coordinator partition hosted here, and those hosted elsewhere."""
    coordinators = coordinators_of(state)
    if group_ids and OFFSETS_TOPIC not in state.replicas.topics:
        await ensure_offsets_topic(state)
    here: dict[int, list[str]] = {}
    elsewhere = []
    for group_id in group_ids:
        index = coordinators.partition_of(group_id)
        if index in coordinators.services:
            here.setdefault(index, []).append(group_id)
        else:
            elsewhere.append(group_id)
    return here, elsewhere


async def handle_describe_groups(
    ctx: RequestContext, header: RequestHeader, body: Body
) -> Body:
    """Describe each group at its coordinator; others get NOT_COORDINATOR."""
    state = state_of(ctx)
    here, elsewhere = await _by_partition(state, list(body["groups"]))
    found: dict[str, Body] = {}
    for index, groups in here.items():
        service = coordinators_of(state).services[index]
        try:
            answer = await service.describe_groups({**body, "groups": groups}, header.api_version)
            found.update((g["group_id"], g) for g in answer["groups"])
        except CoordinatorUnavailable:
            elsewhere += groups
    for group_id in elsewhere:
        found[group_id] = {"error_code": ErrorCode.NOT_COORDINATOR, "group_id": group_id,
                           "group_state": "", "protocol_type": "", "protocol_data": "",
                           "members": []}  # fmt: skip
    return {"throttle_time_ms": 0, "groups": [found[g] for g in body["groups"]]}


async def handle_list_groups(ctx: RequestContext, header: RequestHeader, body: Body) -> Body:
    """Every group of every coordinator hosted here."""
    state = state_of(ctx)
    groups: list[Body] = []
    code = ErrorCode.NONE
    for service in list(coordinators_of(state).services.values()):
        try:
            answer = await service.list_groups(body, header.api_version)
        except CoordinatorUnavailable:
            code = ErrorCode.COORDINATOR_NOT_AVAILABLE
            continue
        groups += answer["groups"]
    return {"throttle_time_ms": 0, "error_code": code, "groups": groups}


async def handle_delete_groups(ctx: RequestContext, header: RequestHeader, body: Body) -> Body:
    """Delete each empty group at its coordinator."""
    state = state_of(ctx)
    names = list(body["groups_names"])
    here, elsewhere = await _by_partition(state, names)
    results: dict[str, Body] = {}
    for index, groups in here.items():
        service = coordinators_of(state).services[index]
        try:
            answer = await service.delete_groups({"groups_names": groups}, header.api_version)
            results.update((r["group_id"], r) for r in answer["results"])
        except CoordinatorUnavailable:
            elsewhere += groups
    for group_id in elsewhere:
        results[group_id] = {"group_id": group_id, "error_code": ErrorCode.NOT_COORDINATOR}
    return {"throttle_time_ms": 0, "results": [results[g] for g in names]}


HANDLERS = {
    ApiKey.FIND_COORDINATOR: handle_find_coordinator,
    ApiKey.JOIN_GROUP: handle_join_group,
    ApiKey.SYNC_GROUP: handle_sync_group,
    ApiKey.HEARTBEAT: handle_heartbeat,
    ApiKey.LEAVE_GROUP: handle_leave_group,
    ApiKey.OFFSET_COMMIT: handle_offset_commit,
    ApiKey.OFFSET_FETCH: handle_offset_fetch,
    ApiKey.OFFSET_DELETE: handle_offset_delete,
    ApiKey.DESCRIBE_GROUPS: handle_describe_groups,
    ApiKey.LIST_GROUPS: handle_list_groups,
    ApiKey.DELETE_GROUPS: handle_delete_groups,
}
