"""Three replica managers on real logs replicating through an in-memory metadata store.

Each node has its own log directory, replica manager and handlers; followers reach the
leader's handlers through a loopback connection that goes through the real codec (encode,
decode, handle, encode, decode), so field names and versions are those on the wire.  A small
task plays the controller's part of applying partition states from the store's watch.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing

from client.protocol import (
    SUPPORTED_VERSIONS,
    ApiKey,
    ErrorCode,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from client.records import build_batch, decode_batches

from broker.api import fetch, offsets, produce
from broker.api.state import STATE_KEY, BrokerState
from broker.metadata.membership import BrokerInfo, ClusterView
from broker.metadata.memory import MemoryMetadataStore
from broker.metadata.records import (
    PARTITIONS_PREFIX,
    partition_key,
    PartitionState,
    TopicRecord,
    create_topic,
    get_partition,
    list_partitions,
)
from broker.replication import durability
from broker.replication.manager import ReplicaManager
from broker.replication.settings import ReplicationSettings
from broker.storage.config import LogConfig
from broker.storage.manager import LogManager

TOPIC = "orders"
SETTINGS = ReplicationSettings(
    replica_lag_time_max_ms=400,
    replica_fetch_wait_max_ms=50,
    replica_fetch_max_bytes=1 << 20,
    replica_fetch_backoff_ms=50,
)
HANDLERS: dict[int, Callable[..., Any]] = {
    ApiKey.PRODUCE: produce.handle_produce,
    ApiKey.FETCH: fetch.handle_fetch,
    ApiKey.OFFSET_FOR_LEADER_EPOCH: offsets.handle_offset_for_leader_epoch,
    ApiKey.LIST_OFFSETS: offsets.handle_list_offsets,
}


class Node:
    """One simulated broker: logs, replica manager and the handlers' state."""

    def __init__(
        self, node_id: int, directory: Path, cluster: ClusterView, write_caching: bool = False
    ) -> None:
        self.node_id = node_id
        defaults = LogConfig().with_overrides(
            {"min.insync.replicas": 2, "write.caching": str(write_caching).lower()}
        )
        self.logs = LogManager(str(directory / f"node{node_id}"), defaults, broker_id=node_id)
        self.replicas = ReplicaManager(node_id, self.logs, defaults)
        self.cluster = cluster
        self.state = BrokerState(
            SimpleNamespace(node_id=node_id),  # type: ignore[arg-type]
            SimpleNamespace(extras={}),
            self.replicas,
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
        )

    def context(self) -> Any:
        @asynccontextmanager
        async def ordered() -> AsyncIterator[None]:
            yield

        return SimpleNamespace(services=SimpleNamespace(extras={STATE_KEY: self.state}),
                               ordered=ordered)

    async def call(self, api_key: ApiKey, body: dict, max_version: int | None = None) -> dict:
        """One request through the codec to this node's handler."""
        version = SUPPORTED_VERSIONS[api_key][1]
        if max_version is not None:
            version = min(version, max_version)
        frame = encode_request(api_key, version, 7, "test", body)
        header, decoded = decode_request(memoryview(frame)[4:])
        answer = await HANDLERS[api_key](self.context(), header, decoded)
        reply = memoryview(encode_response(header, answer))[4:]
        _, result = decode_response(api_key, version, reply)
        return result

    def log_bytes(self) -> bytes:
        log = self.logs.get_log(TOPIC, 0)
        assert log is not None
        return log.read(log.log_start_offset, 1 << 30, min_one_batch=True).to_bytes()


class Loopback:
    """A 'connection' to a node that calls its handlers directly."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def request(self, api_key: ApiKey, body: dict, *, max_version: int | None = None) -> dict:
        await trio.lowlevel.checkpoint()
        return await self.node.call(api_key, body, max_version)

    async def aclose(self) -> None:
        pass


class Cluster:
    """Three nodes, a store, and the task applying its partition states."""

    def __init__(
        self,
        directory: Path,
        nursery: trio.Nursery,
        store: MemoryMetadataStore | None = None,
        write_caching: bool = False,
    ) -> None:
        self.store = store or MemoryMetadataStore()
        self.view = ClusterView(0)
        self.view.brokers = {n: BrokerInfo(n, "127.0.0.1", 9000 + n) for n in (1, 2, 3)}
        self.nodes = {n: Node(n, directory, self.view, write_caching) for n in (1, 2, 3)}
        self.nursery = nursery
        self.record: TopicRecord | None = None
        for node in self.nodes.values():
            nursery.start_soon(node.replicas.group_commit.run)

    async def connect(self, host: str, port: int, leader: int, node_id: int,
                      timeout_s: float) -> Loopback:
        if leader not in self.view.brokers:
            raise OSError(f"broker {leader} is down")
        return Loopback(self.nodes[leader])

    async def start(
        self, leader: int = 1, registered: bool = True, settings: ReplicationSettings = SETTINGS,
        partitions: int = 1,
    ) -> None:
        for node in self.nodes.values():
            node.replicas.attach_cluster(self.store, self.view, self.nursery, settings,
                                         self.connect)
        replicas = (leader, *[n for n in (1, 2, 3) if n != leader])
        self.record = await create_topic(
            self.store, TOPIC, [replicas] * partitions, {"min.insync.replicas": "2"}
        )
        assert self.record is not None
        watch = self.store.watch(PARTITIONS_PREFIX)
        states = await list_partitions(self.store, TOPIC)
        for node in self.nodes.values():
            if registered:
                node.replicas.registered(0)
            node.replicas.apply_topic(
                self.record, [s for s, _ in states.values()], {i: v for i, (_, v) in states.items()}
            )
        self.nursery.start_soon(self._apply_changes, watch)

    async def _apply_changes(self, watch: Any) -> None:
        async with watch:
            async for change in watch:
                if change.value is None:
                    continue
                state = PartitionState.from_json(change.value)
                for node in self.nodes.values():
                    node.replicas.apply_partition(self.record, state, change.version)

    async def stored(self) -> PartitionState:
        found = await get_partition(self.store, TOPIC, 0)
        assert found is not None
        return found[0]

    async def stop_node(self, node_id: int) -> None:
        """The broker's process dies: its fetchers stop and it is no longer registered."""
        await self.nodes[node_id].replicas.stop_fetchers()
        del self.view.brokers[node_id]

    def restart_node(self, node_id: int) -> None:
        """It comes back and follows again."""
        self.view.brokers[node_id] = BrokerInfo(node_id, "127.0.0.1", 9000 + node_id)
        self.nodes[node_id].replicas.registered(0)


async def produce_to(node: Node, *values: bytes, acks: int = -1, timeout_ms: int = 3000) -> dict:
    body = {
        "transactional_id": None,
        "acks": acks,
        "timeout_ms": timeout_ms,
        "topic_data": [{"name": TOPIC, "partition_data": [
            {"index": 0, "records": build_batch(list(values))}
        ]}],
    }
    response = await node.call(ApiKey.PRODUCE, body)
    return response["responses"][0]["partition_responses"][0]


async def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    with trio.fail_after(timeout_s):
        while not condition():
            await trio.sleep(0.01)


async def test_acks_all_waits_for_the_followers_and_all_logs_match(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery)
        await cluster.start()
        leader = cluster.nodes[1]
        entry = await produce_to(leader, b"a", b"b", b"c")
        assert entry["error_code"] == ErrorCode.NONE
        assert entry["base_offset"] == 0
        partition = leader.replicas.get(TOPIC, 0)
        assert partition is not None and partition.high_watermark == 3
        for node in cluster.nodes.values():
            log = node.logs.get_log(TOPIC, 0)
            assert log is not None and log.log_end_offset == 3
            assert log.recovery_point == 3, "acknowledged records are fsynced everywhere"
        await wait_for(
            lambda: all(n.log_bytes() == leader.log_bytes() for n in cluster.nodes.values())
        )
        nursery.cancel_scope.cancel()


async def test_consumers_do_not_read_past_the_high_watermark(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery)
        await cluster.start()
        leader = cluster.nodes[1]
        await cluster.stop_node(2)
        await cluster.stop_node(3)
        entry = await produce_to(leader, b"x", acks=1)
        assert entry["error_code"] == ErrorCode.NONE
        body = {
            "replica_id": -1, "max_wait_ms": 0, "min_bytes": 0, "max_bytes": 1 << 20,
            "isolation_level": 0, "session_id": 0, "session_epoch": -1,
            "topics": [{"topic": TOPIC, "partitions": [{
                "partition": 0, "current_leader_epoch": -1, "fetch_offset": 0,
                "log_start_offset": -1, "partition_max_bytes": 1 << 20,
            }]}],
            "forgotten_topics_data": [], "rack_id": "",
        }
        answer = (await leader.call(ApiKey.FETCH, body))["responses"][0]["partitions"][0]
        assert answer["error_code"] == ErrorCode.NONE
        assert answer["high_watermark"] == 0
        assert not answer["records"], "the record is on the leader only: not committed"
        # A replica id that is not a live broker is refused.
        stranger = {**body, "replica_id": 42}
        refused = (await leader.call(ApiKey.FETCH, stranger))["responses"][0]["partitions"][0]
        assert refused["error_code"] == ErrorCode.UNKNOWN_SERVER_ERROR
        nursery.cancel_scope.cancel()


async def test_isr_shrinks_without_a_dead_follower_and_it_rejoins(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery)
        await cluster.start()
        leader = cluster.nodes[1]
        assert (await produce_to(leader, b"1"))["error_code"] == ErrorCode.NONE
        await cluster.stop_node(3)
        with trio.fail_after(3):
            while (await cluster.stored()).isr != (1, 2):
                await trio.sleep(0.05)
        entry = await produce_to(leader, b"2", b"3")
        assert entry["error_code"] == ErrorCode.NONE, "two in-sync replicas are enough"
        assert entry["base_offset"] == 1
        await cluster.stop_node(2)
        with trio.fail_after(3):
            while (await cluster.stored()).isr != (1,):
                await trio.sleep(0.05)
        refused = await produce_to(leader, b"4")
        assert refused["error_code"] == ErrorCode.NOT_ENOUGH_REPLICAS
        # acks=1 is still taken, but not committed while the ISR is below min.insync.
        assert (await produce_to(leader, b"5", acks=1))["error_code"] == ErrorCode.NONE
        partition = leader.replicas.get(TOPIC, 0)
        assert partition is not None and partition.high_watermark == 3
        cluster.restart_node(3)
        with trio.fail_after(5):
            while (await cluster.stored()).isr != (1, 3):
                await trio.sleep(0.05)
        await wait_for(lambda: partition.high_watermark == 4)
        assert cluster.nodes[3].log_bytes() == leader.log_bytes()
        nursery.cancel_scope.cancel()


async def test_acks_all_times_out_and_learns_of_a_shrunken_isr(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery)
        await cluster.start()
        leader = cluster.nodes[1]
        await cluster.stop_node(2)
        await cluster.stop_node(3)
        timed_out = await produce_to(leader, b"late", timeout_ms=100)
        assert timed_out["error_code"] == ErrorCode.REQUEST_TIMED_OUT
        waiting = await produce_to(leader, b"later", timeout_ms=5000)
        assert waiting["error_code"] == ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND, (
            "the ISR shrank below min.insync.replicas while the produce waited"
        )
        nursery.cancel_scope.cancel()


async def test_a_follower_truncates_records_the_new_leader_never_had(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery)
        # Before the cluster starts: node 2 led epoch 0 and wrote three records nobody got;
        # node 1 has only the first of them.
        batch = build_batch([b"kept"])
        for node_id in (1, 2):
            log = cluster.nodes[node_id].logs.get_or_create_log(TOPIC, 0)
            log.append_as_leader(memoryview(bytearray(batch)), 0)
        lost = cluster.nodes[2].logs.get_log(TOPIC, 0)
        assert lost is not None
        lost.append_as_leader(memoryview(bytearray(build_batch([b"lost1", b"lost2"]))), 0)
        assert lost.log_end_offset == 3
        # The topic is created at epoch 0 with node 1 leading: it answers that epoch 0 ends
        # at its log end, 1, and node 2 cuts what it wrote after that.
        await cluster.start()
        state = await cluster.stored()
        leader = cluster.nodes[1]
        assert (await produce_to(leader, b"new"))["error_code"] == ErrorCode.NONE
        await wait_for(lambda: cluster.nodes[2].log_bytes() == leader.log_bytes())
        assert lost.log_end_offset == 2
        assert state.leader == 1
        nursery.cancel_scope.cancel()


class RacingStore(MemoryMetadataStore):
    """A store where, once armed, someone else rewrites the partition just before a CAS."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.refused = 0

    async def compare_and_set(self, key: str, expected_version: int, new: Any) -> bool:
        if self.armed and key == partition_key(TOPIC, 0):
            self.armed = False
            current = await self.get(key)
            assert current is not None
            await super().compare_and_set(key, current.version, dict(current.value))
        written = await super().compare_and_set(key, expected_version, new)
        if not written:
            self.refused += 1
        return written


async def test_an_isr_write_that_loses_a_race_is_retried_on_the_new_state(tmp_path: Path) -> None:
    store = RacingStore()
    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery, store)
        await cluster.start()
        assert (await produce_to(cluster.nodes[1], b"1"))["error_code"] == ErrorCode.NONE
        store.armed = True
        await cluster.stop_node(3)
        with trio.fail_after(5):
            while (await cluster.stored()).isr != (1, 2):
                await trio.sleep(0.05)
        assert store.refused == 1, "the first write met a newer version and changed nothing"
        partition = cluster.nodes[1].replicas.get(TOPIC, 0)
        assert partition is not None and partition.leader_state is not None
        await wait_for(lambda: partition.isr == (1, 2))
        assert partition.leader_state.pending_isr is None
        nursery.cancel_scope.cancel()


async def test_a_leadership_from_before_registration_is_not_taken_up(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery)
        await cluster.start(registered=False)
        leader = cluster.nodes[1]
        partition = leader.replicas.get(TOPIC, 0)
        assert partition is not None and not partition.is_leader, "not registered yet"
        assert (await produce_to(leader, b"x"))["error_code"] == ErrorCode.NOT_LEADER_OR_FOLLOWER
        # This process registered after the state was written: a previous life's leadership.
        for node in cluster.nodes.values():
            node.replicas.registered(cluster.store.revision)
        assert not partition.is_leader
        assert (await produce_to(leader, b"x"))["error_code"] == ErrorCode.NOT_LEADER_OR_FOLLOWER
        # The controller elects it again in a new epoch: now it leads, and followers follow.
        found = await get_partition(cluster.store, TOPIC, 0)
        assert found is not None
        state, version = found
        await cluster.store.compare_and_set(
            partition_key(TOPIC, 0), version,
            replace(state, leader=1, leader_epoch=state.leader_epoch + 1).to_json(),
        )
        await wait_for(lambda: partition.is_leader)
        entry = await produce_to(leader, b"y")
        assert entry["error_code"] == ErrorCode.NONE and entry["base_offset"] == 0
        nursery.cancel_scope.cancel()


async def test_write_caching_commits_without_waiting_for_fsync(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery, write_caching=True)
        await cluster.start()
        entry = await produce_to(cluster.nodes[1], b"a", b"b")
        assert entry["error_code"] == ErrorCode.NONE
        for node in cluster.nodes.values():
            log = node.logs.get_log(TOPIC, 0)
            assert log is not None
            assert log.recovery_point == 0, "page-cache writes only"
        followers = [cluster.nodes[n].logs.get_log(TOPIC, 0) for n in (2, 3)]
        assert all(log is not None and log.log_end_offset == 2 for log in followers)
        nursery.cancel_scope.cancel()


def replica_fetch(replica_id: int, epoch: int, offset: int = 0) -> dict:
    return {
        "replica_id": replica_id, "max_wait_ms": 0, "min_bytes": 0, "max_bytes": 1 << 20,
        "isolation_level": 0, "session_id": 0, "session_epoch": -1,
        "topics": [{"topic": TOPIC, "partitions": [{
            "partition": 0, "current_leader_epoch": epoch, "fetch_offset": offset,
            "log_start_offset": -1, "partition_max_bytes": 1 << 20,
        }]}],
        "forgotten_topics_data": [], "rack_id": "",
    }


async def test_follower_requests_with_another_epoch_are_fenced_and_move_nothing(
    tmp_path: Path,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery)
        await cluster.start()
        await cluster.stop_node(3)
        cluster.view.brokers[3] = BrokerInfo(3, "127.0.0.1", 9003)  # live, but not fetching
        leader = cluster.nodes[1]
        partition = leader.replicas.get(TOPIC, 0)
        assert partition is not None and partition.leader_state is not None
        partition.log.epochs.assign(3, 0)  # pretend the partition is in epoch 3
        partition.state = PartitionState(TOPIC, 0, (1, 2, 3), 1, 3, (1, 2, 3))
        expected = ((2, ErrorCode.FENCED_LEADER_EPOCH), (4, ErrorCode.UNKNOWN_LEADER_EPOCH))
        for epoch, code in expected:
            answer = (await leader.call(ApiKey.FETCH, replica_fetch(3, epoch)))
            entry = answer["responses"][0]["partitions"][0]
            assert entry["error_code"] == code
            ask = {"replica_id": 3, "topics": [{"topic": TOPIC, "partitions": [
                {"partition": 0, "current_leader_epoch": epoch, "leader_epoch": 0}
            ]}]}
            epochs = await leader.call(ApiKey.OFFSET_FOR_LEADER_EPOCH, ask)
            assert epochs["topics"][0]["partitions"][0]["error_code"] == code
        assert partition.leader_state.followers[3].log_end_offset == -1, "no progress taken"
        ok = (await leader.call(ApiKey.FETCH, replica_fetch(3, 3)))["responses"][0]["partitions"][0]
        assert ok["error_code"] == ErrorCode.NONE
        assert partition.leader_state.followers[3].log_end_offset == 0
        nursery.cancel_scope.cancel()


# Far longer than any test may take: a wait that ran into it would fail the test.
LONG_POLL = replace(SETTINGS, replica_fetch_wait_max_ms=60_000, replica_lag_time_max_ms=120_000)


def consumer_fetch(offset: int, max_wait_ms: int) -> dict:
    return {**replica_fetch(-1, -1, offset), "max_wait_ms": max_wait_ms, "min_bytes": 1}


async def test_acks_all_is_answered_without_waiting_out_a_follower_long_poll(
    tmp_path: Path,
) -> None:
    # Followers wait at the leader in a long-poll: the append must answer it, and the fetch
    # that reports the follower's fsynced progress must move the watermark at once.
    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery)
        await cluster.start(settings=LONG_POLL)
        leader = cluster.nodes[1]
        partition = leader.replicas.get(TOPIC, 0)
        assert partition is not None
        await wait_for(lambda: all(
            f.log_end_offset == 0 for f in partition.leader_state.followers.values()
        ))
        for round_ in range(3):
            with trio.fail_after(10):
                entry = await produce_to(leader, b"x", b"y", timeout_ms=60_000)
            assert entry["error_code"] == ErrorCode.NONE
            assert entry["base_offset"] == 2 * round_
        nursery.cancel_scope.cancel()


async def test_a_consumer_long_poll_is_answered_when_the_watermark_passes_it(
    tmp_path: Path,
) -> None:
    # The append alone does not make the records readable; the watermark moving, when the
    # followers report them, must wake the consumer's fetch.
    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery)
        await cluster.start(settings=LONG_POLL)
        leader = cluster.nodes[1]
        answers: list[dict] = []

        async def consume() -> None:
            answer = await leader.call(ApiKey.FETCH, consumer_fetch(0, 60_000))
            answers.append(answer["responses"][0]["partitions"][0])

        nursery.start_soon(consume)
        await trio.testing.wait_all_tasks_blocked()
        with trio.fail_after(10):
            entry = await produce_to(leader, b"a", b"b", acks=1)
            assert entry["error_code"] == ErrorCode.NONE
            await wait_for(lambda: bool(answers), timeout_s=10)
        assert answers[0]["error_code"] == ErrorCode.NONE
        assert answers[0]["high_watermark"] == 2
        assert len(decode_batches(answers[0]["records"])[0].records) == 2
        nursery.cancel_scope.cancel()


def _fetches(cluster: Cluster) -> int:
    """Fetch requests the followers of every node have sent so far."""
    return sum(
        fetcher.fetches
        for node in cluster.nodes.values() if node.replicas.fetchers is not None
        for fetcher in node.replicas.fetchers._fetchers.values()
    )


async def test_idle_partitions_of_a_fetch_session_are_not_read_but_stay_in_sync(
    tmp_path: Path,
) -> None:
    # Partition 1 has nothing new while partition 0 takes acks=all writes: the leader leaves
    # it out of the followers' session answers without reading it, yet every fetch still
    # counts as their progress on it, so they stay in its ISR past replica.lag.time.max.ms.
    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery)
        await cluster.start(partitions=2)
        leader = cluster.nodes[1]
        busy, idle = leader.replicas.get(TOPIC, 0), leader.replicas.get(TOPIC, 1)
        assert busy is not None and idle is not None
        assert (await produce_to(leader, b"first"))["error_code"] == ErrorCode.NONE
        await wait_for(lambda: len(leader.state.fetch_sessions) == 2)
        reads = 0
        read = idle.log.read

        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal reads
            reads += 1
            return read(*args, **kwargs)

        idle.log.read = counted  # type: ignore[method-assign]
        fetches = _fetches(cluster)
        lag_s = SETTINGS.replica_lag_time_max_ms / 1000
        deadline = trio.current_time() + 2.5 * lag_s
        while trio.current_time() < deadline:
            assert (await produce_to(leader, b"more"))["error_code"] == ErrorCode.NONE
            await trio.sleep(0.02)
        fetched = _fetches(cluster) - fetches
        assert fetched > 20, "the followers kept fetching"
        assert reads == 0, f"the idle partition was read {reads} times in {fetched} fetches"
        found = await get_partition(cluster.store, TOPIC, 1)
        assert found is not None and found[0].isr == (1, 2, 3)
        assert set(idle.leader_state.isr) == {1, 2, 3}
        nursery.cancel_scope.cancel()


async def test_a_follower_behind_fetches_on_while_it_fsyncs_and_only_fsynced_records_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A durable follower the leader shows behind fetches the rest at once instead of
    waiting for its fsync after every answer; the leader's high watermark counts only what
    the followers report fsynced."""
    gate = threading.Event()
    held: set[Path] = set()  # directories of the logs whose fsync waits for the gate
    run_all = durability.run_flushes

    def gated(tasks: list[Any]) -> None:
        if any(task.log.directory in held for task in tasks):
            gate.wait(10)
        run_all(tasks)

    monkeypatch.setattr(durability, "run_flushes", gated)
    # One ~1 KiB batch per follower fetch: eight rounds to catch up.
    settings = replace(SETTINGS, replica_fetch_max_bytes=512)
    try:
        async with trio.open_nursery() as nursery:
            cluster = Cluster(tmp_path, nursery)
            await cluster.start(settings=settings)
            leader = cluster.nodes[1]
            partition = leader.replicas.get(TOPIC, 0)
            assert partition is not None
            followers = [cluster.nodes[n].logs.get_log(TOPIC, 0) for n in (2, 3)]
            held.update(log.directory for log in followers if log is not None)
            await cluster.stop_node(2)
            await cluster.stop_node(3)
            for i in range(8):
                entry = await produce_to(leader, b"%d" % i * 1000, acks=1)
                assert entry["error_code"] == ErrorCode.NONE
            cluster.restart_node(2)
            cluster.restart_node(3)
            await wait_for(lambda: all(log.log_end_offset == 8 for log in followers))
            await wait_for(lambda: len(partition.isr) == 3)
            assert all(log.recovery_point == 0 for log in followers)
            assert partition.high_watermark == 0, "nothing is fsynced on the followers"
            gate.set()
            await wait_for(lambda: partition.high_watermark == 8)
            assert all(log.recovery_point == 8 for log in followers)
            nursery.cancel_scope.cancel()
    finally:
        gate.set()


async def test_replica_gauges_count_leaderships_and_shrunken_isrs(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    from broker.metrics import ReplicaMetrics

    def gauges(node: Node) -> tuple[float | None, ...]:
        registry = CollectorRegistry()
        ReplicaMetrics(registry).watch(node.replicas.health)
        return tuple(registry.get_sample_value(f"rillet_replica_{name}") for name in (
            "leader_partitions", "under_replicated_partitions", "under_min_isr_partitions"))

    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery)
        await cluster.start(partitions=2)
        leader = cluster.nodes[1]
        assert gauges(leader) == (2, 0, 0)
        assert gauges(cluster.nodes[2]) == (0, 0, 0), "followers count no partition"
        await cluster.stop_node(3)
        with trio.fail_after(3):
            while (await cluster.stored()).isr != (1, 2):
                await trio.sleep(0.05)
        await wait_for(lambda: gauges(leader) == (2, 2, 0))
        await cluster.stop_node(2)
        await wait_for(lambda: gauges(leader) == (2, 2, 2))
        nursery.cancel_scope.cancel()
