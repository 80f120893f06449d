"""Incremental fetch sessions (KIP-227) for follower fetches: the leader's side.

Without a session every follower fetch names every partition the follower copies from this
leader, and every answer repeats them all, changed or not.  A cluster's ``__consumer_offsets``
alone puts some 17 partitions of 50 on each leader, so a follower fetch that brings one
batch of one topic used to read, encode, send and decode all of them.

A session remembers what the follower last asked for each partition and what it was last
told (high watermark, log start).  A request with ``session_epoch`` 0 opens a session with
the partitions it names and is answered in full; later requests carry the session id, the
next epoch, only the partitions whose fetch state changed and the partitions to forget, and
are answered with only the partitions that have records, an error or a new high watermark or
log start; ``FetchSession.quiet`` tells the fetch handler which partitions it need not read
at all.  ``session_epoch`` -1 fetches without a session.  An unknown session id or a wrong
epoch is answered with FETCH_SESSION_ID_NOT_FOUND or INVALID_FETCH_SESSION_EPOCH and nothing
else; the follower then opens a new session.

Sessions are kept for followers only (consumers are answered session id 0, which tells them
to send full requests), one per follower broker: a new session replaces its older one, so
their number is bounded by the cluster's size.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from client.protocol import ErrorCode
from client.protocol.messages.produce import (
    FETCH_SESSION_FINAL_EPOCH as FINAL_EPOCH,
    FETCH_SESSION_INITIAL_EPOCH as INITIAL_EPOCH,
)

from broker.replication.partition import Partition

Body = dict[str, Any]
Key = tuple[str, int]

_MAX_EPOCH = 0x7FFFFFFF


@dataclass
class _Told:
    """What the follower was last told of a partition."""

    high_watermark: int = -2
    log_start_offset: int = -2


@dataclass
class FetchSession:
    """One follower's session: its partitions' last fetch state and what it was last told."""

    id: int
    replica_id: int
    epoch: int = 0  # the epoch the request being served carries; the next must carry one more
    partitions: dict[Key, Body] = field(default_factory=dict)
    told: dict[Key, _Told] = field(default_factory=dict)
    full: bool = True  # the answer to the request being served lists every partition

    def topics(self) -> list[Body]:
        """The session's partitions as a Fetch request's ``topics``."""
        grouped: dict[str, list[Body]] = {}
        for (topic, _), request in self.partitions.items():
            grouped.setdefault(topic, []).append(request)
        return [{"topic": topic, "partitions": parts} for topic, parts in grouped.items()]

    def _update(self, body: Body) -> None:
        for topic in body.get("forgotten_topics_data") or ():
            for index in topic["partitions"]:
                key = (topic["topic"], index)
                self.partitions.pop(key, None)
                self.told.pop(key, None)
        for topic in body["topics"]:
            for request in topic["partitions"]:
                self.partitions[(topic["topic"], request["partition"])] = request

    def quiet(self, topic: str, request: Body, partition: Partition) -> bool:
        """Whether the partition has nothing to tell that the follower does not know: it
        would be left out of the answer, so it need not be read.  ``request`` is the
        partition's fetch state in the session."""
        if self.full or not partition.is_leader:
            return False
        told = self.told.get((topic, request["partition"]))
        if told is None:
            return False
        epoch = request.get("current_leader_epoch", -1)
        if epoch != -1 and epoch != partition.leader_epoch:
            return False
        log = partition.log
        return (
            request["fetch_offset"] == log.log_end_offset
            and told.high_watermark == partition.high_watermark
            and told.log_start_offset == log.log_start_offset
        )

    def answer(self, response: Body) -> Body:
        """``response`` (which covers every partition of the session) cut down to what the
        follower does not know yet, recording what it is now told."""
        full = self.full
        self.full = False
        responses = []
        for topic in response["responses"]:
            name = topic["topic"]
            kept = []
            for entry in topic["partitions"]:
                key = (name, entry["partition_index"])
                told = self.told.setdefault(key, _Told())
                changed = (
                    entry["high_watermark"] != told.high_watermark
                    or entry["log_start_offset"] != told.log_start_offset
                )
                if full or changed or entry["records"] or entry["error_code"] != ErrorCode.NONE:
                    told.high_watermark = entry["high_watermark"]
                    told.log_start_offset = entry["log_start_offset"]
                    kept.append(entry)
            if kept:
                responses.append({**topic, "partitions": kept})
        return {**response, "session_id": self.id, "responses": responses}


class FetchSessions:
    """The follower sessions of one broker."""

    def __init__(self) -> None:
        self._by_id: dict[int, FetchSession] = {}
        self._by_replica: dict[int, FetchSession] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def open(self, replica_id: int, body: Body) -> FetchSession | ErrorCode | None:
        """The session a follower's request belongs to, updated with the request.

        None for a request without a session, an error code for a session that cannot be
        used (the whole answer is then that error).
        """
        session_id = body.get("session_id", 0)
        epoch = body.get("session_epoch", FINAL_EPOCH)
        if epoch == FINAL_EPOCH or epoch == INITIAL_EPOCH:
            if session_id:
                self._close(self._by_id.get(session_id))
            if epoch == FINAL_EPOCH:
                return None
            self._close(self._by_replica.get(replica_id))
            session = FetchSession(self._new_id(), replica_id)
            self._by_id[session.id] = session
            self._by_replica[replica_id] = session
            session._update(body)
            return session
        session = self._by_id.get(session_id)
        if session is None or session.replica_id != replica_id:
            return ErrorCode.FETCH_SESSION_ID_NOT_FOUND
        if epoch != _next(session.epoch):
            return ErrorCode.INVALID_FETCH_SESSION_EPOCH
        session.epoch = epoch
        session._update(body)
        return session

    def _close(self, session: FetchSession | None) -> None:
        if session is not None:
            self._by_id.pop(session.id, None)
            if self._by_replica.get(session.replica_id) is session:
                del self._by_replica[session.replica_id]

    def _new_id(self) -> int:
        # Random, so a follower still holding an id from this broker's previous run is
        # unlikely to hit another follower's session (and would fail on the epoch if it did).
        while True:
            candidate = random.randint(1, _MAX_EPOCH)
            if candidate not in self._by_id:
                return candidate


def _next(epoch: int) -> int:
    return epoch + 1 if epoch < _MAX_EPOCH else 1


def session_error(code: ErrorCode) -> Body:
    """The whole answer to a request whose session cannot be used."""
    return {"throttle_time_ms": 0, "error_code": code, "session_id": 0, "responses": []}
