"""Incremental fetch sessions between a follower and its leader (both sides, no network)."""

from __future__ import annotations

from typing import Any

from client.protocol import ErrorCode

from broker.api.fetch_sessions import FetchSession, FetchSessions
from broker.replication.fetcher import FollowerSession, SessionRequest, _by_topic

REPLICA = 2


def _state(index: int, offset: int, topic: str = "t") -> tuple[tuple[str, int], dict[str, Any]]:
    return (topic, index), {
        "partition": index, "current_leader_epoch": 1, "fetch_offset": offset,
        "last_fetched_epoch": 1, "log_start_offset": 0, "partition_max_bytes": 1 << 20,
    }


def _body(asked: SessionRequest) -> dict[str, Any]:
    return {
        "replica_id": REPLICA,
        "session_id": asked.session_id,
        "session_epoch": asked.epoch,
        "topics": _by_topic(asked.send, lambda key, part: part),
        "forgotten_topics_data": _by_topic(dict.fromkeys(asked.forget), lambda key, _: key[1]),
    }


def _entry(index: int, hw: int, records: bytes = b"", error: int = 0) -> dict[str, Any]:
    return {"partition_index": index, "error_code": error, "high_watermark": hw,
            "log_start_offset": 0, "records": records}


def _served(session: FetchSession, entries: dict[tuple[str, int], dict[str, Any]]) -> dict:
    """The leader's answer: ``entries`` is what a read of every session partition gave."""
    assert set(entries) == set(session.partitions), "the leader reads every session partition"
    topics: dict[str, list] = {}
    for (topic, _), entry in entries.items():
        topics.setdefault(topic, []).append(entry)
    response = {"throttle_time_ms": 0, "error_code": 0, "session_id": 0,
                "responses": [{"topic": t, "partitions": p} for t, p in topics.items()]}
    return session.answer(response)


def _named(response: dict) -> list[tuple[str, int]]:
    return [(t["topic"], p["partition_index"]) for t in response["responses"]
            for p in t["partitions"]]


def test_only_changed_partitions_travel_after_the_first_fetch() -> None:
    leader, follower = FetchSessions(), FollowerSession()
    wanted = dict(_state(i, 10) for i in range(17))

    asked = follower.request(wanted)
    assert (asked.session_id, asked.epoch, len(asked.send)) == (0, 0, 17)
    session = leader.open(REPLICA, _body(asked))
    assert isinstance(session, FetchSession)
    first = _served(session, {k: _entry(k[1], 10) for k in wanted})
    assert len(_named(first)) == 17, "the answer that opens a session is full"
    assert follower.answered(first, asked) and follower.id == session.id

    # Partition 3 got a batch; the others are idle at their log end.
    asked = follower.request(wanted)
    assert (asked.session_id, asked.epoch, asked.send, asked.forget) == (session.id, 1, {}, [])
    assert leader.open(REPLICA, _body(asked)) is session
    reads = {k: _entry(k[1], 10) for k in wanted}
    reads[("t", 3)] = _entry(3, 10, records=b"batch")
    answer = _served(session, reads)
    assert _named(answer) == [("t", 3)]
    assert answer["session_id"] == session.id
    follower.answered(answer, asked)

    # The follower appended to 3 (its fetch offset moved) and the watermark moved on 5.
    wanted[("t", 3)] = _state(3, 11)[1]
    asked = follower.request(wanted)
    assert list(asked.send) == [("t", 3)] and asked.epoch == 2
    assert leader.open(REPLICA, _body(asked)) is session
    assert session.partitions[("t", 3)]["fetch_offset"] == 11
    reads = {k: _entry(k[1], 10) for k in wanted}
    reads[("t", 5)] = _entry(5, 12)
    assert _named(_served(session, reads)) == [("t", 5)]


def test_errors_are_always_answered_and_forgotten_partitions_leave_the_session() -> None:
    leader, follower = FetchSessions(), FollowerSession()
    wanted = dict([_state(0, 5), _state(1, 5), _state(0, 7, topic="u")])
    asked = follower.request(wanted)
    session = leader.open(REPLICA, _body(asked))
    assert isinstance(session, FetchSession)
    follower.answered(_served(session, {k: _entry(k[1], 5) for k in wanted}), asked)

    reads = {k: _entry(k[1], 5) for k in wanted}
    reads[("t", 1)] = _entry(1, 5, error=ErrorCode.NOT_LEADER_OR_FOLLOWER)
    asked = follower.request(wanted)
    leader.open(REPLICA, _body(asked))
    answer = _served(session, reads)
    assert _named(answer) == [("t", 1)], "an error is news even when nothing else changed"
    follower.answered(answer, asked)

    del wanted[("t", 1)]  # the follower backs off that partition
    asked = follower.request(wanted)
    assert asked.forget == [("t", 1)] and asked.send == {}
    leader.open(REPLICA, _body(asked))
    assert set(session.partitions) == {("t", 0), ("u", 0)}
    follower.answered(_served(session, {k: _entry(k[1], 5) for k in wanted}), asked)

    wanted.update([_state(1, 5)])  # and comes back to it
    asked = follower.request(wanted)
    assert list(asked.send) == [("t", 1)]
    leader.open(REPLICA, _body(asked))
    assert _named(_served(session, {k: _entry(k[1], 5) for k in wanted})) == [("t", 1)], (
        "a partition back in the session is told its state again"
    )


def test_a_lost_session_or_a_wrong_epoch_makes_the_follower_open_a_new_one() -> None:
    leader, follower = FetchSessions(), FollowerSession()
    wanted = dict(_state(i, 1) for i in range(3))
    asked = follower.request(wanted)
    session = leader.open(REPLICA, _body(asked))
    assert isinstance(session, FetchSession)
    follower.answered(_served(session, {k: _entry(k[1], 1) for k in wanted}), asked)

    restarted = FetchSessions()  # the leader's process started again
    asked = follower.request(wanted)
    code = restarted.open(REPLICA, _body(asked))
    assert code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND
    error = {"throttle_time_ms": 0, "error_code": code, "session_id": 0, "responses": []}
    assert not follower.answered(error, asked)
    asked = follower.request(wanted)
    assert (asked.session_id, asked.epoch, len(asked.send)) == (0, 0, 3)

    stale = _body(SessionRequest(session.id, session.epoch + 5, {}, []))
    assert leader.open(REPLICA, stale) == ErrorCode.INVALID_FETCH_SESSION_EPOCH
    other = _body(SessionRequest(session.id, session.epoch + 1, {}, []))
    assert leader.open(REPLICA + 1, other) == ErrorCode.FETCH_SESSION_ID_NOT_FOUND, (
        "a session belongs to the follower that opened it"
    )


def test_one_session_per_follower_and_none_without_an_epoch() -> None:
    leader = FetchSessions()
    wanted = dict([_state(0, 0)])
    first = leader.open(REPLICA, _body(SessionRequest(0, 0, wanted, [])))
    second = leader.open(REPLICA, _body(SessionRequest(0, 0, wanted, [])))
    assert isinstance(first, FetchSession) and isinstance(second, FetchSession)
    assert first.id != second.id and len(leader) == 1, "a new session replaces the follower's old"
    assert leader.open(REPLICA, _body(SessionRequest(0, -1, wanted, []))) is None
    assert leader.open(REPLICA, _body(SessionRequest(first.id, 1, {}, []))) == (
        ErrorCode.FETCH_SESSION_ID_NOT_FOUND
    )


def test_a_leader_that_opens_no_session_is_fetched_from_in_full_until_it_does() -> None:
    follower = FollowerSession()
    wanted = dict(_state(i, 0) for i in range(2))
    for _ in range(2):
        asked = follower.request(wanted)
        assert (asked.session_id, asked.epoch, len(asked.send)) == (0, 0, 2)
        assert follower.answered({"error_code": 0, "session_id": 0, "responses": []}, asked)
    asked = follower.request(wanted)
    leader = FetchSessions()
    session = leader.open(REPLICA, _body(asked))
    assert isinstance(session, FetchSession)
    follower.answered(_served(session, {k: _entry(k[1], 0) for k in wanted}), asked)
    assert follower.request(wanted) == SessionRequest(session.id, 1, {}, [])
