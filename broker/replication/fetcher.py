"""Follower fetchers: copy the leader's log, one fetcher task per leader broker.

A fetcher holds one connection to its leader and fetches every partition this broker follows
from it in one Fetch request (``replica_id`` = this broker, the follower's leader epoch, a
long-poll of ``replica.fetch.wait.max.ms``), in an incremental fetch session
(``FollowerSession``): after the first, a request names only the partitions whose fetch
offset moved and an answer only those with news.  Before a partition's first fetch in a leader
epoch it asks the leader (OffsetForLeaderEpoch) where its own latest epoch ends and truncates
to where the two logs agree (``truncation_point``); records past that point were never
committed.  Fetched batches are appended as they are (offsets and epochs from the leader) and
fsynced, group-committed, unless ``write.caching``; the follower's high watermark becomes
min(leader's, own log end).  Each fetch reports the follower's log end offset and how far it
is fsynced (``durable_offset``, a field only Rillet brokers send), and the leader's high
watermark counts only the latter.  A follower that the answer shows behind (the leader's log
end offset, also Rillet's own, is further) fetches again at once while its fsync runs; one
that has caught up waits for the fsync first, since its next fetch may wait at the leader.

A leader that answers FENCED_LEADER_EPOCH, NOT_LEADER_OR_FOLLOWER or UNKNOWN_LEADER_EPOCH does
not lead what we think it does: the partition waits for its next state from the store (and
retries after a back-off, in case that state is the one the leader has not seen yet).  A
broken connection is reopened after a back-off.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import trio

from client.errors import KafkaError
from client.network import BrokerConnection
from client.protocol import ApiKey, ErrorCode
from client.protocol.messages.produce import FETCH_SESSION_INITIAL_EPOCH as INITIAL_EPOCH

from broker.metadata.membership import ClusterView
from broker.replication.durability import GroupCommit
from broker.replication.partition import Partition
from broker.replication.settings import ReplicationSettings
from broker.storage.errors import StorageError
from broker.storage.log import Log

log = logging.getLogger("rillet.fetcher")

FETCH_MAX_VERSION = 12
FETCH_MAX_BYTES = 64 * 1024 * 1024
# Beyond the long-poll: a leader that stops answering (a paused process) is given up on.
REQUEST_TIMEOUT_S = 10.0
_SESSION_ERRORS = frozenset(
    {ErrorCode.FETCH_SESSION_ID_NOT_FOUND, ErrorCode.INVALID_FETCH_SESSION_EPOCH}
)
_FENCING = frozenset(
    {
        ErrorCode.FENCED_LEADER_EPOCH,
        ErrorCode.NOT_LEADER_OR_FOLLOWER,
        ErrorCode.UNKNOWN_LEADER_EPOCH,
    }
)
Epochs = list[tuple[int, int]]  # (epoch, start offset), increasing
Key = tuple[str, int]  # (topic, partition)


class LeaderConnection(Protocol):
    """What a fetcher needs of a connection to a leader (``BrokerConnection`` has it)."""

    async def request(
        self, api_key: ApiKey, body: dict, *, max_version: int | None = None
    ) -> dict | None:
        """Send one request and return the decoded response body."""

    async def aclose(self) -> None:
        """Close the connection."""


# (host, port, leader node id, this node id, request timeout s) -> a connected connection
Connector = Callable[[str, int, int, int, float], Awaitable[LeaderConnection]]


async def open_connection(
    host: str, port: int, leader: int, node_id: int, timeout_s: float
) -> LeaderConnection:
    """A Kafka connection to the leader at ``host:port``, versions negotiated."""
    connection = BrokerConnection(
        host,
        port,
        node_id=leader,
        client_id=f"rillet-replica-{node_id}",
        request_timeout=timeout_s,
        max_in_flight=1,
    )
    await connection.connect()
    return connection


class SessionRequest(NamedTuple):
    """What the next fetch asks: its session id and epoch, the partitions it names (with
    their fetch state) and the partitions the session should forget."""

    session_id: int
    epoch: int
    send: dict[Key, dict[str, Any]]
    forget: list[Key]


class FollowerSession:
    """The follower's side of its fetch session with one leader (``broker.api.fetch_sessions``).

    The first request opens a session naming every partition; later ones name only the
    partitions whose fetch state changed since the leader last heard it and forget those no
    longer fetched.  While a leader opens no session (it answers session id 0) every request
    is a full one; a leader that lost the session gets a new one at the next request.
    """

    def __init__(self) -> None:
        self.id = 0
        self.epoch = INITIAL_EPOCH
        self.held: dict[Key, dict[str, Any]] = {}

    def request(self, wanted: dict[Key, dict[str, Any]]) -> SessionRequest:
        """The request that fetches ``wanted`` (partition -> fetch state)."""
        if self.id == 0:
            return SessionRequest(0, self.epoch, dict(wanted), [])
        send = {key: part for key, part in wanted.items() if self.held.get(key) != part}
        forget = [key for key in self.held if key not in wanted]
        return SessionRequest(self.id, self.epoch, send, forget)

    def answered(self, response: dict[str, Any], asked: SessionRequest) -> bool:
        """Take the answer to ``asked``; False when it holds nothing because the session was
        gone (the next request opens a new one)."""
        if response.get("error_code", ErrorCode.NONE) in _SESSION_ERRORS:
            self.id, self.epoch, self.held = 0, INITIAL_EPOCH, {}
            return False
        if asked.epoch == INITIAL_EPOCH:
            # A leader that opened no session (one without sessions, or one that did not yet
            # count this broker as live) is asked to open one again with the next request.
            self.id = response.get("session_id", 0)
            self.epoch = 1 if self.id else INITIAL_EPOCH
            self.held = dict(asked.send) if self.id else {}
            return True
        for key in asked.forget:
            self.held.pop(key, None)
        self.held.update(asked.send)
        self.epoch = self.epoch + 1 if self.epoch < 0x7FFFFFFF else 1
        return True


def _by_topic(parts: dict[Key, Any], item: Callable[[Key, Any], Any]) -> list[dict[str, Any]]:
    """``parts`` grouped by topic as a Fetch request lists them."""
    grouped: dict[str, list[Any]] = {}
    for key, part in parts.items():
        grouped.setdefault(key[0], []).append(item(key, part))
    return [{"topic": topic, "partitions": entries} for topic, entries in grouped.items()]


class Truncation(NamedTuple):
    """Where to truncate, and the epoch to ask about next (None: truncation is complete)."""

    offset: int
    next_epoch: int | None = None


def epoch_end(entries: Epochs, epoch: int, log_end: int) -> tuple[int, int]:
    """(largest epoch <= ``epoch``, where it ends) in an epoch history; (-1, -1) if none."""
    index = bisect.bisect_right([e for e, _ in entries], epoch) - 1
    if index < 0:
        return -1, -1
    end = entries[index + 1][1] if index + 1 < len(entries) else log_end
    return entries[index][0], end


def truncation_point(
    requested_epoch: int,
    answer_epoch: int,
    answer_end: int,
    entries: Epochs,
    log_end: int,
    high_watermark: int,
) -> Truncation:
    """Where a follower's log stops agreeing with the leader's.

    The follower asked about ``requested_epoch``; the leader answered the largest epoch it
    knows at or below it and where that epoch ends on the leader.  When the follower has the
    same epoch, the logs agree up to the smaller of the two ends.  When the follower lacks the
    leader's epoch, its records from its next epoch on were never the leader's: it truncates
    there and asks about its own earlier epoch.  A leader that knows no such epoch (or a
    follower without epochs) leaves only the high watermark to trust.
    """
    if requested_epoch < 0 or answer_end < 0:
        return Truncation(min(high_watermark, log_end))
    mine, my_end = epoch_end(entries, answer_epoch, log_end)
    if mine == answer_epoch:
        return Truncation(min(answer_end, my_end, log_end))
    if mine < 0:
        first_start = entries[0][1] if entries else log_end
        return Truncation(min(answer_end, first_start, log_end))
    return Truncation(min(my_end, log_end), mine)


@dataclass(eq=False)
class _Followed:
    """One partition as a fetcher follows it."""

    partition: Partition
    epoch: int
    truncated: bool = False
    ask_epoch: int | None = None
    fenced: bool = False
    retry_at: float = 0.0

    def ready(self, now: float) -> bool:
        return not self.fenced and now >= self.retry_at

    def back_off(self, seconds: float, fenced: bool = False) -> None:
        self.retry_at = trio.current_time() + seconds
        self.fenced = self.fenced or fenced


class ReplicaFetchers:
    """The fetchers of this broker, one per leader it follows partitions from."""

    def __init__(
        self,
        node_id: int,
        cluster: ClusterView,
        group_commit: GroupCommit,
        settings: ReplicationSettings,
        nursery: trio.Nursery,
        connect: Connector = open_connection,
    ) -> None:
        self.node_id = node_id
        self.connect = connect
        self.cluster = cluster
        self.group_commit = group_commit
        self.settings = settings
        self._nursery = nursery
        self._fetchers: dict[int, LeaderFetcher] = {}
        self._leader_of: dict[Partition, int] = {}

    def add(self, partition: Partition, leader: int, epoch: int) -> None:
        """Follow ``partition`` from ``leader`` in ``epoch`` (truncating first on a new epoch)."""
        current = self._leader_of.get(partition)
        if current is not None and current != leader:
            self._fetchers[current].drop(partition)
        fetcher = self._fetchers.get(leader)
        if fetcher is None:
            fetcher = LeaderFetcher(self, leader)
            self._fetchers[leader] = fetcher
            self._nursery.start_soon(fetcher.run, name=f"replica-fetcher-{leader}")
        fetcher.follow(partition, epoch)
        self._leader_of[partition] = leader

    def remove(self, partition: Partition) -> None:
        """Stop following ``partition`` (it is led here now, or by nobody, or deleted)."""
        leader = self._leader_of.pop(partition, None)
        if leader is not None:
            self._fetchers[leader].drop(partition)

    def following(self, partition: Partition) -> int | None:
        """The leader ``partition`` is followed from, or None."""
        return self._leader_of.get(partition)

    async def aclose(self) -> None:
        """Stop every fetcher and wait until each has let go of its connection."""
        for fetcher in list(self._fetchers.values()):
            await fetcher.stop()
        self._fetchers.clear()
        self._leader_of.clear()


class LeaderFetcher:
    """The task that fetches every followed partition of one leader broker."""

    def __init__(self, owner: ReplicaFetchers, leader: int) -> None:
        self.owner = owner
        self.leader = leader
        self.followed: dict[tuple[str, int], _Followed] = {}
        self._changed = trio.Event()
        self._scope = trio.CancelScope()
        self._done = trio.Event()
        self._started = False
        self.fetches = 0
        self.session = FollowerSession()
        # Logs appended to while behind the leader, whose fsync was asked for, not awaited.
        self._unsynced: set[Log] = set()

    @property
    def _backoff_s(self) -> float:
        return self.owner.settings.replica_fetch_backoff_ms / 1000

    def follow(self, partition: Partition, epoch: int) -> None:
        """Fetch ``partition`` in ``epoch``; a new epoch starts with truncation."""
        key = (partition.topic, partition.index)
        current = self.followed.get(key)
        if current is not None and current.partition is partition and current.epoch == epoch:
            current.fenced = False
            return
        self.followed[key] = _Followed(partition, epoch)
        self._signal()

    def drop(self, partition: Partition) -> None:
        """Stop fetching ``partition``."""
        key = (partition.topic, partition.index)
        current = self.followed.get(key)
        if current is not None and current.partition is partition:
            del self.followed[key]
            self._signal()

    def _signal(self) -> None:
        changed, self._changed = self._changed, trio.Event()
        changed.set()

    def _current(self, item: _Followed) -> bool:
        """Whether ``item`` is still followed as it was (no await may separate check and use)."""
        partition = item.partition
        key = (partition.topic, partition.index)
        return (
            self.followed.get(key) is item
            and not partition.removed
            and not partition.leading
            and not partition.log.closed
        )

    async def stop(self) -> None:
        """Cancel the task and wait for it to end (if it ever started)."""
        self._scope.cancel()
        if self._started:
            await self._done.wait()

    async def run(self) -> None:
        """Connect, fetch, reconnect after failures; until stopped."""
        self._started = True
        last_failure = ""
        try:
            with self._scope:
                while True:
                    if not self.followed:
                        await self._changed.wait()
                        continue
                    endpoint = self.owner.cluster.endpoint(self.leader)
                    if endpoint is None:
                        with trio.move_on_after(self._backoff_s):
                            await self.owner.cluster.wait_changed()
                        continue
                    try:
                        await self._connected(*endpoint)
                    except (KafkaError, OSError, StorageError) as exc:
                        # Said once per kind of failure, not once per retry.
                        level = logging.DEBUG if str(exc) == last_failure else logging.INFO
                        last_failure = str(exc)
                        log.log(level, "fetching from broker %d: %s", self.leader, exc)
                    except Exception:
                        # A fetcher must not take the broker down; it starts over.
                        log.exception("fetcher for broker %d failed", self.leader)
                    await trio.sleep(self._backoff_s)
        finally:
            self._done.set()

    async def _connected(self, host: str, port: int) -> None:
        timeout_s = self.owner.settings.replica_fetch_wait_max_ms / 1000 + REQUEST_TIMEOUT_S
        connection = await self.owner.connect(host, port, self.leader, self.owner.node_id,
                                              timeout_s)
        self.session = FollowerSession()
        try:
            while True:
                if not self.followed:
                    await self._changed.wait()
                    continue
                await self._truncate(connection)
                if not await self._fetch(connection):
                    await self._wait_ready()
        finally:
            with trio.CancelScope(shield=True):
                await connection.aclose()

    async def _wait_ready(self) -> None:
        """Sleep until some partition may be fetched again or the followed set changes."""
        now = trio.current_time()
        pending = [f.retry_at for f in self.followed.values() if not f.fenced]
        wake = min(pending) if pending else now + self._backoff_s
        with trio.move_on_at(max(wake, now + 0.01)):
            await self._changed.wait()

    # ------------------------------------------------------------ truncation

    async def _truncate(self, connection: LeaderConnection) -> None:
        now = trio.current_time()
        asking: dict[tuple[str, int], tuple[_Followed, int]] = {}
        for key, item in self.followed.items():
            if item.truncated or not item.ready(now):
                continue
            log_ = item.partition.log
            ask = item.ask_epoch if item.ask_epoch is not None else log_.latest_epoch
            if ask < 0:
                self._apply_truncation(item, truncation_point(
                    -1, -1, -1, [], log_.log_end_offset, log_.high_watermark
                ) if log_.log_end_offset > log_.log_start_offset else Truncation(
                    log_.log_end_offset
                ))
                continue
            asking[key] = (item, ask)
        if not asking:
            return
        topics: dict[str, list[dict[str, Any]]] = {}
        for (topic, index), (item, ask) in asking.items():
            topics.setdefault(topic, []).append(
                {"partition": index, "current_leader_epoch": item.epoch, "leader_epoch": ask}
            )
        body = {
            "replica_id": self.owner.node_id,
            "topics": [{"topic": t, "partitions": parts} for t, parts in topics.items()],
        }
        response = await connection.request(ApiKey.OFFSET_FOR_LEADER_EPOCH, body)
        assert response is not None
        for topic in response["topics"]:
            for answer in topic["partitions"]:
                found = asking.get((topic["topic"], answer["partition"]))
                if found is None:
                    continue
                item, ask = found
                if not self._current(item):
                    continue
                code = answer["error_code"]
                if code != ErrorCode.NONE:
                    self._on_error(item, code)
                    continue
                log_ = item.partition.log
                decision = truncation_point(
                    ask,
                    answer.get("leader_epoch", -1),
                    answer["end_offset"],
                    list(log_.epochs.entries),
                    log_.log_end_offset,
                    log_.high_watermark,
                )
                self._apply_truncation(item, decision)

    def _apply_truncation(self, item: _Followed, decision: Truncation) -> None:
        log_ = item.partition.log
        if decision.offset < log_.log_end_offset:
            log.info(
                "%s-%d: truncating from %d to %d (leader %d, epoch %d)",
                item.partition.topic, item.partition.index, log_.log_end_offset,
                decision.offset, self.leader, item.epoch,
            )
            log_.truncate_to(decision.offset)
        # An epoch this broker began as leader without writing a record ends here too.
        log_.epochs.truncate_from_end(decision.offset)
        item.ask_epoch = decision.next_epoch
        item.truncated = decision.next_epoch is None

    def _on_error(self, item: _Followed, code: int) -> None:
        if code in _FENCING:
            log.info(
                "%s-%d: broker %d answered %s for epoch %d; waiting for a new state",
                item.partition.topic, item.partition.index, self.leader,
                ErrorCode(code).name, item.epoch,
            )
            item.back_off(self._backoff_s, fenced=code == ErrorCode.FENCED_LEADER_EPOCH)
        else:
            item.back_off(self._backoff_s)

    # ------------------------------------------------------------ fetching

    async def _fetch(self, connection: LeaderConnection) -> bool:
        """One fetch of every ready partition; False when none was ready."""
        now = trio.current_time()
        settings = self.owner.settings
        expected: dict[Key, tuple[_Followed, int]] = {}
        wanted: dict[Key, dict[str, Any]] = {}
        for key, item in self.followed.items():
            if not item.truncated or not item.ready(now):
                continue
            log_ = item.partition.log
            offset = log_.log_end_offset
            expected[key] = (item, offset)
            wanted[key] = {
                "partition": key[1],
                "current_leader_epoch": item.epoch,
                "fetch_offset": offset,
                "last_fetched_epoch": log_.latest_epoch,
                "log_start_offset": log_.log_start_offset,
                "partition_max_bytes": settings.replica_fetch_max_bytes,
            }
            if not log_.config.write_caching:
                wanted[key]["durable_offset"] = log_.recovery_point
        if not wanted:
            return False
        asked = self.session.request(wanted)
        body = {
            "replica_id": self.owner.node_id,
            "max_wait_ms": settings.replica_fetch_wait_max_ms,
            "min_bytes": 1,
            "max_bytes": FETCH_MAX_BYTES,
            "isolation_level": 0,
            "session_id": asked.session_id,
            "session_epoch": asked.epoch,
            "topics": _by_topic(asked.send, lambda key, part: part),
            "forgotten_topics_data": _by_topic(dict.fromkeys(asked.forget), lambda key, _: key[1]),
        }
        response = await connection.request(
            ApiKey.FETCH, body, max_version=FETCH_MAX_VERSION
        )
        assert response is not None
        self.fetches += 1
        if not self.session.answered(response, asked):
            return True
        appended: list[Log] = []
        behind = False
        for topic in response["responses"]:
            for answer in topic["partitions"]:
                found = expected.get((topic["topic"], answer["partition_index"]))
                if found is None:
                    continue
                item, offset = found
                if not self._current(item) or item.partition.log.log_end_offset != offset:
                    continue
                if self._take(item, answer):
                    log_ = item.partition.log
                    appended.append(log_)
                    behind = behind or answer.get("log_end_offset", -1) > log_.log_end_offset
        unsynced = self._unsynced
        unsynced.update(log_ for log_ in appended if not log_.config.write_caching)
        if not unsynced:
            return True
        group_commit = self.owner.group_commit
        if behind:
            # The leader has more: fetch it at once and let the fsync run meanwhile; the
            # next fetches say how far it got (``durable_offset``), and so move the leader's
            # high watermark.
            for log_ in unsynced:
                group_commit.request(log_, log_.log_end_offset)
            return True
        # Caught up: the next fetch may wait at the leader, so it must carry everything.
        self._unsynced = set()
        await group_commit.wait_all_durable(
            (log_, log_.log_end_offset) for log_ in unsynced if not log_.closed
        )
        return True

    def _take(self, item: _Followed, answer: dict[str, Any]) -> bool:
        """Apply one partition's fetch answer; True when records were appended."""
        code = answer["error_code"]
        log_ = item.partition.log
        if code == ErrorCode.OFFSET_OUT_OF_RANGE:
            leader_start = answer.get("log_start_offset", -1)
            if 0 <= log_.log_end_offset < leader_start:
                log_.truncate_fully_and_start_at(leader_start)
            else:
                item.truncated = False
            return False
        if code != ErrorCode.NONE:
            self._on_error(item, code)
            return False
        records = answer.get("records")
        wrote = False
        if records is not None and len(records):
            try:
                log_.append_as_follower(records)
                wrote = True
            except StorageError as exc:
                log.warning(
                    "%s-%d: cannot append fetched records: %s; truncating again",
                    item.partition.topic, item.partition.index, exc,
                )
                item.truncated = False
                return False
        end = log_.log_end_offset
        log_.high_watermark = max(log_.log_start_offset, min(answer["high_watermark"], end))
        leader_start = answer.get("log_start_offset", -1)
        if log_.log_start_offset < leader_start <= end:
            log_.delete_records(leader_start)
        if wrote:
            item.partition.notify_data()
        return wrote
