"""Consumer group membership: join, sync, heartbeat, commit, leave — eager or cooperative.

:class:`GroupMembership` runs two background tasks for a consumer that subscribed:

* the **membership loop** finds the coordinator (FindCoordinator, cached by the cluster) and,
  whenever a rebalance is needed, runs one: JoinGroup (retried once with the member id the
  coordinator hands out on MEMBER_ID_REQUIRED), the leader's assignment (the assignor the
  coordinator chose, run over every member's subscription), SyncGroup, then the assignment
  is applied;
* the **heartbeat loop** sends Heartbeat every ``heartbeat_interval_ms`` while the member is
  stable; REBALANCE_IN_PROGRESS asks for a rejoin, ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID mean
  the membership was lost, coordinator errors send it looking for the coordinator again.

Eager protocol (``range``, ``roundrobin``): before joining, every partition is revoked
(offsets committed first with auto-commit). Cooperative protocol (``cooperative-sticky``):
partitions stay owned and fetched across the rebalance; after SyncGroup only the partitions
that are gone are revoked, and if any were, the member rejoins at once so the leader can hand
them to their new owner.

Rebalance listener callbacks run on the membership task, but only while the application holds
no records from ``poll`` (the :class:`PollGate`): ``poll`` lets them run before it returns
anything more, so a callback never races the application's processing of the records it
already has, as with the Java client's callbacks inside ``poll``. A member that does not poll
within ``max_poll_interval_ms`` leaves the group, as in Kafka, and rejoins on its next poll.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import trio

from client.consumer.assignors import (
    Assignor,
    GroupMember,
    RebalanceProtocol,
    rebalance_protocol,
)
from client.consumer.config import ConsumerConfig
from client.consumer.errors import CommitFailedError
from client.consumer.formats import (
    CONSUMER_PROTOCOL_TYPE,
    Assignment,
    FormatError,
    Subscription,
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)
from client.consumer.offsets import (
    offset_commit_request,
    offset_fetch_request,
    parse_offset_commit,
    parse_offset_fetch,
)
from client.consumer.structs import OffsetAndMetadata, TopicPartition
from client.consumer.subscription import SubscriptionMode, SubscriptionState
from client.consumer.wakeup import Signal
from client.errors import KafkaError, error_for
from client.network import Cluster
from client.protocol import ApiKey, ErrorCode

__all__ = ["GroupMembership", "PollGate", "RebalanceListener"]

log = logging.getLogger(__name__)

_COORDINATOR_MOVED = frozenset({
    ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_COORDINATOR,
})
_MEMBERSHIP_LOST = frozenset({
    ErrorCode.UNKNOWN_MEMBER_ID,
    ErrorCode.ILLEGAL_GENERATION,
    ErrorCode.FENCED_INSTANCE_ID,
})


def partition_counts(metadata: Any, topics: Iterable[str]) -> dict[str, int]:
    """``{topic: partition count}`` from a metadata snapshot, 0 for unknown topics."""
    counts = {}
    for topic in topics:
        info = metadata.topics.get(topic)
        counts[topic] = len(info.partitions) if info is not None else 0
    return counts


class RebalanceListener:
    """Base for rebalance callbacks; override what you need. Methods may be plain or async.

    ``on_partitions_revoked`` is called with partitions the member gives up in an orderly way
    (commit their offsets here when not using auto-commit); ``on_partitions_assigned`` with
    the partitions it newly got; ``on_partitions_lost`` with partitions that were taken away
    because the membership itself was lost (their offsets can no longer be committed).
    """

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> Any:
        """Partitions about to be given up."""

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> Any:
        """Partitions newly assigned."""

    def on_partitions_lost(self, lost: set[TopicPartition]) -> Any:
        """Partitions already owned by someone else; by default treated as revoked."""
        return self.on_partitions_revoked(lost)


async def call_listener(
    listener: object | None,
    method: str,
    partitions: set[TopicPartition],
    errors: list[Exception] | None = None,
) -> None:
    """Call ``listener.method(partitions)`` if it has one, awaiting it if it is async. A
    listener without ``on_partitions_lost`` gets ``on_partitions_revoked`` instead. With
    ``errors``, an exception the listener raises is logged and appended there (for ``poll``
    to raise) instead of interrupting the rebalance."""
    if listener is None:
        return
    fn = getattr(listener, method, None)
    if fn is None and method == "on_partitions_lost":
        fn = getattr(listener, "on_partitions_revoked", None)
    if fn is None:
        return
    try:
        result = fn(partitions)
        if inspect.isawaitable(result):
            await result
    except Exception as exc:
        if errors is None:
            raise
        log.exception("rebalance listener %s failed", method)
        errors.append(exc)


class PollGate:
    """Whether the application still works on records ``poll`` returned.

    ``poll`` opens the gate when called (the previous records are done) and closes it when it
    returns records; callbacks wait for the gate to be open. ``close`` opens it for good.
    """

    def __init__(self) -> None:
        self.outstanding = False
        self.forced_open = False
        self.last_poll = 0.0
        self._opened = Signal()

    def poll_entered(self) -> None:
        """The application called poll."""
        self.outstanding = False
        self.last_poll = trio.current_time()
        self._opened.fire()

    def records_returned(self) -> None:
        """poll handed records to the application."""
        if not self.forced_open:
            self.outstanding = True

    def open_for_good(self) -> None:
        """No more records will be returned (the consumer is closing)."""
        self.forced_open = True
        self.outstanding = False
        self._opened.fire()

    async def wait_open(self) -> None:
        """Return once the application holds no records."""
        while self.outstanding:
            await self._opened.wait()


class GroupMembership:
    """One consumer's membership of ``config.group_id`` (see the module docstring).

    ``cluster`` serves metadata; ``coordinator_cluster`` carries the group's requests on
    connections of their own, so a JoinGroup that the coordinator holds for seconds never
    delays fetches queued behind it. ``on_assignment_changed`` tells the fetcher.
    """

    def __init__(
        self,
        cluster: Cluster,
        coordinator_cluster: Cluster,
        subscriptions: SubscriptionState,
        config: ConsumerConfig,
        gate: PollGate,
        on_assignment_changed: Callable[[], None],
    ) -> None:
        assert config.group_id is not None
        self.group_id: str = config.group_id
        self._cluster = cluster
        self._coord = coordinator_cluster
        self._subs = subscriptions
        self._config = config
        self._gate = gate
        self._on_assignment_changed = on_assignment_changed
        self.assignors: list[Assignor] = config.assignors
        self.protocol = rebalance_protocol(self.assignors)
        self.member_id = ""
        self.generation_id = -1
        self.protocol_name: str | None = None
        self.leader_id: str | None = None
        self.stable = False
        self.rejoin_needed = True
        self._joined_version = -1
        self._lost = False
        self._closing = False
        self.fatal: KafkaError | None = None
        self.listener_errors: list[Exception] = []
        self.changed = Signal()
        self.callbacks_pending = False
        self.callbacks_done = Signal()
        self._callback_lock = trio.Lock()
        self.rebalances = 0
        self._topic_counts: dict[str, int] = {}
        self._backoff = config.retry_backoff_ms / 1000
        self._request_timeout = config.request_timeout_ms / 1000

    @property
    def is_leader(self) -> bool:
        """Whether this member computed the group's assignment in the current generation."""
        return self.leader_id is not None and self.leader_id == self.member_id

    # ------------------------------------------------------------------ coordinator

    async def coordinator(self, timeout: float | None = None) -> int:
        """The coordinator's node id (FindCoordinator when not cached)."""
        return await self._coord.coordinator_for(
            self.group_id, timeout=self._request_timeout if timeout is None else timeout
        )

    def _coordinator_dead(self) -> None:
        self._coord.invalidate_coordinator(self.group_id)

    async def _request(self, api_key: ApiKey, body: dict, timeout: float | None = None) -> dict:
        node = await self.coordinator()
        try:
            return await self._coord.request(node, api_key, body, timeout=timeout)
        except KafkaError as exc:
            if exc.retriable:
                self._coordinator_dead()
            raise

    # ------------------------------------------------------------------ loops

    async def run(self) -> None:
        """The membership loop (a background task)."""
        while True:
            if self.fatal is not None or self._closing:
                await self.changed.wait()
                continue
            if not self._wants_group():
                await self.changed.wait()
                continue
            try:
                await self.coordinator()
                if self._needs_rejoin():
                    await self._rebalance()
                else:
                    await self.changed.wait(self._config.heartbeat_interval_ms / 1000)
                    await self._check_metadata()
            except KafkaError as exc:
                if exc.retriable:
                    log.info("group %s: %s; retrying", self.group_id, exc)
                    await trio.sleep(self._backoff)
                else:
                    log.error("group %s: fatal: %s", self.group_id, exc)
                    self.fatal = exc
                    self.callbacks_done.fire()
            except Exception as exc:  # a bug must reach the application, not end the task
                log.exception("group %s: membership failed", self.group_id)
                self.fatal = KafkaError(f"group membership failed: {exc!r}")
                self.callbacks_done.fire()

    def _wants_group(self) -> bool:
        subs = self._subs
        if subs.mode == SubscriptionMode.PATTERN:
            return True
        return subs.mode == SubscriptionMode.TOPICS and bool(subs.topics)

    def _needs_rejoin(self) -> bool:
        if self._subs.mode == SubscriptionMode.PATTERN and not self._subs.topics:
            return False
        return (
            self.rejoin_needed
            or self.generation_id < 0
            or self._joined_version != self._subs.version
        )

    def request_rejoin(self, reason: str) -> None:
        """Rejoin the group at the next opportunity."""
        if not self.rejoin_needed:
            log.info("group %s: rejoining: %s", self.group_id, reason)
        self.rejoin_needed = True
        self.changed.fire()

    async def heartbeat_loop(self) -> None:
        """The heartbeat loop (a background task)."""
        interval = self._config.heartbeat_interval_ms / 1000
        max_poll = self._config.max_poll_interval_ms / 1000
        while True:
            await trio.sleep(interval)
            if not self.stable or self.generation_id < 0 or self._closing:
                continue
            if self._gate.outstanding and trio.current_time() - self._gate.last_poll > max_poll:
                log.warning(
                    "group %s: poll was not called for max_poll_interval_ms (%d); leaving the "
                    "group so its partitions go to other members",
                    self.group_id, self._config.max_poll_interval_ms,
                )
                await self._leave("the application stopped polling")
                self._lose_membership()
                continue
            try:
                response = await self._request(
                    ApiKey.HEARTBEAT,
                    {
                        "group_id": self.group_id,
                        "generation_id": self.generation_id,
                        "member_id": self.member_id,
                        "group_instance_id": self._config.group_instance_id,
                    },
                )
            except KafkaError as exc:
                log.debug("group %s: heartbeat failed: %s", self.group_id, exc)
                continue
            code = response["error_code"]
            if code == ErrorCode.NONE:
                continue
            if code == ErrorCode.REBALANCE_IN_PROGRESS:
                self.request_rejoin("the coordinator started a rebalance")
            elif code in _MEMBERSHIP_LOST:
                self._handle_lost(code)
            elif code in _COORDINATOR_MOVED:
                self._coordinator_dead()
            else:
                exc = error_for(code, "heartbeat")
                if not exc.retriable:
                    self.fatal = exc
                    self.callbacks_done.fire()

    def _handle_lost(self, code: int) -> None:
        if code == ErrorCode.FENCED_INSTANCE_ID:
            self.fatal = error_for(code, f"group.instance.id {self._config.group_instance_id!r}")
            self.callbacks_done.fire()
            return
        if code == ErrorCode.UNKNOWN_MEMBER_ID:
            self.member_id = ""
        self._lose_membership()

    def _lose_membership(self) -> None:
        self.generation_id = -1
        self.stable = False
        self._lost = True
        self.request_rejoin("the membership was lost")

    async def _check_metadata(self) -> None:
        """Rejoin when the pattern matches other topics, or (as leader) when a group topic
        appeared, disappeared or gained partitions since the assignment."""
        subs = self._subs
        if subs.mode == SubscriptionMode.PATTERN:
            metadata = await self._cluster.refresh_metadata(all_topics=True)
            if subs.match_pattern(metadata.topics, self._config.exclude_internal_topics):
                self.request_rejoin("the topics matching the pattern changed")
                return
        if not self.is_leader or not self.stable or not self._topic_counts:
            return
        topics = set(self._topic_counts)
        metadata = self._cluster.metadata
        if any(t not in metadata.topics for t in topics) or self._cluster.metadata_is_stale():
            metadata = await self._cluster.refresh_metadata(topics)
        if partition_counts(metadata, topics) != self._topic_counts:
            self.request_rejoin("the partitions of the group's topics changed")

    # ------------------------------------------------------------------ rebalancing

    async def _with_gate(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Run ``fn`` (which calls the listener) once the application holds no records;
        never while other callbacks run, and not at all once the consumer is closing."""
        self.callbacks_pending = True
        try:
            await self._gate.wait_open()
            async with self._callback_lock:
                if not self._closing:
                    await fn()
        finally:
            self.callbacks_pending = False
            self.callbacks_done.fire()

    async def _rebalance(self) -> None:
        self.rejoin_needed = False
        try:
            await self._rebalance_once()
        except BaseException:
            self.rejoin_needed = True
            raise

    async def _rebalance_once(self) -> None:
        owned = set(self._subs.assigned())
        if self._lost and owned:
            await self._with_gate(lambda: self._give_up(owned, "on_partitions_lost"))
        elif self.protocol == RebalanceProtocol.EAGER and owned:
            await self._with_gate(lambda: self._revoke(owned))
        elif owned:
            gone = {tp for tp in owned if tp.topic not in self._subs.topics}
            if gone:
                await self._with_gate(lambda: self._revoke(gone))
        self._lost = False
        version = self._subs.version
        self.stable = False
        response = await self._join()
        if response is None:
            return
        assignments: Mapping[str, Assignment] = {}
        if response["leader"] == self.member_id:
            assignments = await self._assign(response)
        else:
            self._topic_counts = {}
        data = await self._sync(assignments)
        if data is None:
            return
        assignment = decode_assignment(data)
        self._joined_version = version
        # Stable from here, as for the coordinator: heartbeats go on while the assignment
        # waits for the application to finish its records.
        self.stable = True
        await self._with_gate(lambda: self._apply(assignment))
        self.rebalances += 1
        self.changed.fire()

    async def _give_up(self, partitions: set[TopicPartition], callback: str) -> None:
        keep = [tp for tp in self._subs.assigned() if tp not in partitions]
        self._subs.set_assignment(keep)
        self._on_assignment_changed()
        await call_listener(self._subs.listener, callback, set(partitions), self.listener_errors)

    async def _revoke(self, partitions: set[TopicPartition]) -> None:
        if self._config.enable_auto_commit:
            offsets = {
                tp: o for tp, o in self._subs.consumed_offsets().items() if tp in partitions
            }
            await self.commit_quietly(offsets)
        await self._give_up(partitions, "on_partitions_revoked")

    def _metadata_for(self, assignor: Assignor) -> bytes:
        owned = self._subs.assigned() if self.protocol == RebalanceProtocol.COOPERATIVE else []
        return encode_subscription(Subscription(
            topics=sorted(self._subs.topics),
            user_data=assignor.user_data(self.generation_id),
            owned_partitions=owned,
            generation_id=self.generation_id,
            rack_id=self._config.client_rack,
        ))

    async def _join(self) -> dict | None:
        """JoinGroup until the coordinator answers with a generation; None to start over."""
        timeout = self._config.effective_rebalance_timeout_ms / 1000 + 5
        while True:
            body = {
                "group_id": self.group_id,
                "session_timeout_ms": self._config.session_timeout_ms,
                "rebalance_timeout_ms": self._config.effective_rebalance_timeout_ms,
                "member_id": self.member_id,
                "group_instance_id": self._config.group_instance_id,
                "protocol_type": CONSUMER_PROTOCOL_TYPE,
                "protocols": [
                    {"name": a.name, "metadata": self._metadata_for(a)} for a in self.assignors
                ],
            }
            response = await self._request(ApiKey.JOIN_GROUP, body, timeout=timeout)
            code = response["error_code"]
            if code == ErrorCode.NONE:
                self.member_id = response["member_id"]
                self.generation_id = response["generation_id"]
                self.protocol_name = response["protocol_name"]
                self.leader_id = response["leader"]
                log.info(
                    "group %s: joined generation %d as %s (%s, protocol %s)",
                    self.group_id, self.generation_id, self.member_id,
                    "leader" if self.is_leader else "follower", self.protocol_name,
                )
                return response
            if code == ErrorCode.MEMBER_ID_REQUIRED:
                self.member_id = response["member_id"]
                continue
            if code == ErrorCode.UNKNOWN_MEMBER_ID:
                self.member_id = ""
                self.generation_id = -1
                continue
            if code == ErrorCode.ILLEGAL_GENERATION:
                self.generation_id = -1
                continue
            if code in _COORDINATOR_MOVED:
                self._coordinator_dead()
            if code in (ErrorCode.REBALANCE_IN_PROGRESS, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS):
                await trio.sleep(self._backoff)
                continue
            self.rejoin_needed = True
            raise error_for(code, f"joining group {self.group_id!r}")

    async def _assign(self, response: dict) -> dict[str, Assignment]:
        """The leader's work: run the chosen assignor over every member's subscription."""
        by_name = {a.name: a for a in self.assignors}
        assignor = by_name.get(response["protocol_name"])
        if assignor is None:
            raise error_for(
                ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
                f"the coordinator chose {response['protocol_name']!r}, which we did not offer",
            )
        members: list[GroupMember] = []
        for raw in response["members"]:
            try:
                subscription = decode_subscription(raw["metadata"])
            except FormatError as exc:
                log.warning("group %s: member %s: %s", self.group_id, raw["member_id"], exc)
                subscription = Subscription([])
            members.append(
                GroupMember(raw["member_id"], subscription, raw.get("group_instance_id"))
            )
        topics = sorted({t for m in members for t in m.subscription.topics})
        metadata = self._cluster.metadata
        if topics:
            metadata = await self._cluster.refresh_metadata(topics)
        self._topic_counts = partition_counts(metadata, topics)
        counts = {t: n for t, n in self._topic_counts.items() if n}
        result = assignor.assign(counts, members)
        log.info(
            "group %s: %s assignment for generation %d: %s", self.group_id, assignor.name,
            self.generation_id,
            {m: [f"{tp.topic}-{tp.partition}" for tp in a.partitions] for m, a in result.items()},
        )
        return result

    async def _sync(self, assignments: Mapping[str, Assignment]) -> bytes | None:
        """SyncGroup; the assignment bytes, or None when a rejoin is needed instead."""
        response = await self._request(
            ApiKey.SYNC_GROUP,
            {
                "group_id": self.group_id,
                "generation_id": self.generation_id,
                "member_id": self.member_id,
                "group_instance_id": self._config.group_instance_id,
                "protocol_type": CONSUMER_PROTOCOL_TYPE,
                "protocol_name": self.protocol_name,
                "assignments": [
                    {"member_id": m, "assignment": encode_assignment(a)}
                    for m, a in assignments.items()
                ],
            },
            timeout=self._config.effective_rebalance_timeout_ms / 1000 + 5,
        )
        code = response["error_code"]
        if code == ErrorCode.NONE:
            return bytes(response["assignment"])
        if code == ErrorCode.REBALANCE_IN_PROGRESS:
            self.request_rejoin("the group rebalanced again during SyncGroup")
            return None
        if code in _MEMBERSHIP_LOST:
            self._handle_lost(code)
            return None
        if code in _COORDINATOR_MOVED:
            self._coordinator_dead()
            self.request_rejoin("the coordinator moved")
            return None
        self.rejoin_needed = True
        raise error_for(code, f"syncing group {self.group_id!r}")

    async def _apply(self, assignment: Assignment) -> None:
        new = list(dict.fromkeys(assignment.partitions))
        owned = set(self._subs.assigned())
        if self.protocol == RebalanceProtocol.EAGER:
            self._subs.set_assignment(new)
            self._on_assignment_changed()
            added = set(new)
        else:
            revoked = owned - set(new)
            if revoked:
                await self._revoke(revoked)
                self.request_rejoin("partitions were revoked; the group must rebalance again")
            self._subs.set_assignment(new)
            self._on_assignment_changed()
            added = set(new) - owned
        for assignor in self.assignors:
            if assignor.name == self.protocol_name:
                assignor.on_assignment(assignment, self.generation_id)
        unsubscribed = {tp.topic for tp in new} - self._subs.topics
        if unsubscribed:
            self.request_rejoin(f"assigned topics we no longer subscribe to: {unsubscribed}")
        await call_listener(
            self._subs.listener, "on_partitions_assigned", added, self.listener_errors
        )

    # ------------------------------------------------------------------ offsets

    def _commit_generation(self) -> tuple[int, str]:
        if not self._subs.group_managed:
            return -1, ""
        if self.generation_id < 0:
            raise CommitFailedError(
                "the consumer is not in an active generation of the group (it is rejoining); "
                "the partitions may be reassigned"
            )
        return self.generation_id, self.member_id

    async def commit(self, offsets: Mapping[TopicPartition, OffsetAndMetadata]) -> None:
        """Commit ``offsets``, retrying coordinator moves until request_timeout_ms passes.

        Raises CommitFailedError when the membership was lost (the partitions may belong to
        another member), RebalanceInProgressError when the group is rebalancing, or the
        broker's error for the offending partition.
        """
        if not offsets:
            return
        deadline = trio.current_time() + self._request_timeout
        while True:
            generation, member_id = self._commit_generation()
            body = offset_commit_request(
                self.group_id, generation, member_id, self._config.group_instance_id, offsets
            )
            try:
                response = await self._request(ApiKey.OFFSET_COMMIT, body)
            except KafkaError as exc:
                if not exc.retriable or trio.current_time() >= deadline:
                    raise
                await trio.sleep(self._backoff)
                continue
            retry = False
            for tp, code in parse_offset_commit(response).items():
                if code == ErrorCode.NONE:
                    continue
                if code in _COORDINATOR_MOVED or code in (
                    ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.REQUEST_TIMED_OUT
                ):
                    if code in _COORDINATOR_MOVED:
                        self._coordinator_dead()
                    retry = True
                    continue
                if code in _MEMBERSHIP_LOST:
                    self._handle_lost(code)
                    raise CommitFailedError(
                        f"commit of {tp.topic}-{tp.partition} rejected "
                        f"({ErrorCode(code).name}): the group has rebalanced"
                    )
                if code == ErrorCode.REBALANCE_IN_PROGRESS:
                    self.request_rejoin("a commit found the group rebalancing")
                raise error_for(code, f"committing {tp.topic}-{tp.partition}")
            if not retry:
                return
            if trio.current_time() >= deadline:
                raise error_for(ErrorCode.COORDINATOR_NOT_AVAILABLE, "committing offsets")
            await trio.sleep(self._backoff)

    async def commit_quietly(self, offsets: Mapping[TopicPartition, OffsetAndMetadata]) -> bool:
        """Commit, logging instead of raising (auto-commit, revocation, close)."""
        try:
            await self.commit(offsets)
        except KafkaError as exc:
            log.warning("group %s: offset commit failed: %s", self.group_id, exc)
            return False
        return True

    async def fetch_committed(
        self, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        """The committed offsets of ``partitions`` (None where nothing is committed)."""
        wanted = list(dict.fromkeys(partitions))
        if not wanted:
            return {}
        deadline = trio.current_time() + self._request_timeout
        body = offset_fetch_request(self.group_id, wanted, self._config.read_committed)
        while True:
            try:
                response = await self._request(ApiKey.OFFSET_FETCH, body)
                group_code, parts = parse_offset_fetch(response)
                if group_code:
                    if group_code in _COORDINATOR_MOVED:
                        self._coordinator_dead()
                    raise error_for(group_code, f"fetching offsets of group {self.group_id!r}")
                result: dict[TopicPartition, OffsetAndMetadata | None] = {}
                for tp in wanted:
                    code, committed = parts.get(tp, (ErrorCode.NONE, None))
                    if code in (ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION):
                        result[tp] = committed
                        continue
                    if code in _COORDINATOR_MOVED:
                        self._coordinator_dead()
                    raise error_for(code, f"committed offset of {tp.topic}-{tp.partition}")
                return result
            except KafkaError as exc:
                if not exc.retriable or trio.current_time() >= deadline:
                    raise
                await trio.sleep(self._backoff)

    # ------------------------------------------------------------------ leaving

    async def _leave(self, reason: str) -> None:
        if not self.member_id or self._config.group_instance_id is not None:
            return
        try:
            with trio.fail_after(self._request_timeout):
                response = await self._request(
                    ApiKey.LEAVE_GROUP,
                    {
                        "group_id": self.group_id,
                        "member_id": self.member_id,
                        "members": [{"member_id": self.member_id, "reason": reason}],
                    },
                )
            if response["error_code"]:
                log.info("group %s: LeaveGroup: %s", self.group_id,
                         error_for(response["error_code"]))
        except (KafkaError, trio.TooSlowError) as exc:
            log.info("group %s: LeaveGroup failed: %s", self.group_id, exc)
        self.member_id = ""
        self.generation_id = -1
        self.stable = False

    async def leave(self, *, commit: bool) -> None:
        """Give up the assignment (committing first when ``commit``) and leave the group.

        Dynamic members send LeaveGroup so the group rebalances at once; static members
        (``group_instance_id``) do not, so a restart within the session timeout keeps their
        partitions.
        """
        self._closing = True
        self._gate.open_for_good()
        async with self._callback_lock:  # callbacks already running finish first
            owned = set(self._subs.assigned())
            if owned and self._subs.group_managed:
                if self.generation_id < 0:
                    await self._give_up(owned, "on_partitions_lost")
                else:
                    if commit:
                        await self.commit_quietly(self._subs.consumed_offsets())
                    await self._give_up(owned, "on_partitions_revoked")
        await self._leave("the consumer is closing")
        self.changed.fire()

    async def unsubscribed(self, *, commit: bool) -> None:
        """The application unsubscribed: revoke everything and leave; a later subscribe
        joins again."""
        await self.leave(commit=commit)
        self._closing = False
        self._gate.forced_open = False
        self.rejoin_needed = True
