"""The fetcher's position logic, driven with canned broker answers (no sockets)."""

from __future__ import annotations

from collections.abc import Callable

import crc32c
import pytest
import trio

from client.consumer.config import consumer_config
from client.consumer.errors import (
    LogTruncationError,
    NoOffsetForPartitionError,
    RecordDecodeError,
)
from client.consumer.fetcher import Fetcher, fetch_request
from client.consumer.offsets import EpochEnd, validate_position
from client.consumer.structs import OffsetAndMetadata, TopicPartition as TP
from client.consumer.subscription import SubscriptionState
from client.errors import TopicAuthorizationFailedError  # type: ignore[attr-defined]
from client.network import TaskGroup
from client.network.metadata import ClusterMetadata, PartitionInfo, TopicInfo
from client.protocol import ApiKey, ErrorCode
from client.records import Compression, build_batch
from client.records.batch import CRC_OFFSET, CRC_START

T0 = TP("t", 0)
T1 = TP("t", 1)


def metadata(epoch: int = 0, leaders: tuple[int, int] = (1, 1)) -> ClusterMetadata:
    parts = {p: PartitionInfo("t", p, leaders[p], epoch) for p in range(2)}
    return ClusterMetadata(topics={"t": TopicInfo("t", parts)})


class StubCluster:
    """Just what the fetcher uses of a Cluster; answers come from ``handlers``."""

    def __init__(self) -> None:
        self.metadata = metadata()
        self.updates = 0
        self.requests: list[tuple[int, int, dict]] = []
        self.handlers: dict[int, Callable[[dict], dict]] = {}

    def request_update(self) -> None:
        self.updates += 1

    def add_topics(self, topics: object) -> None:
        pass

    def metadata_is_stale(self) -> bool:
        return False

    async def request(self, node: int, api_key: int, body: dict, **_: object) -> dict:
        self.requests.append((node, api_key, body))
        return self.handlers[api_key](body)


def make(
    reset: str = "earliest", **options: object
) -> tuple[Fetcher, SubscriptionState, StubCluster]:
    cluster = StubCluster()
    config = consumer_config(auto_offset_reset=reset, **options)
    subs = SubscriptionState(config.auto_offset_reset, uses_group=False)
    fetcher = Fetcher(cluster, subs, config, TaskGroup())  # type: ignore[arg-type]
    return fetcher, subs, cluster


def fetch_answer(parts: dict[TP, dict]) -> Callable[[dict], dict]:
    def answer(body: dict) -> dict:
        responses = []
        for topic in body["topics"]:
            out = []
            for p in topic["partitions"]:
                tp = TP(topic["topic"], p["partition"])
                base = {"partition_index": tp.partition, "error_code": 0, "high_watermark": 100,
                        "last_stable_offset": 100, "log_start_offset": 0, "records": None}
                base.update(parts.get(tp, {}))
                out.append(base)
            responses.append({"topic": topic["topic"], "partitions": out})
        return {"error_code": 0, "responses": responses}
    return answer


def records(first: int, count: int, epoch: int = 0) -> bytes:
    return build_batch([b"v%d" % i for i in range(first, first + count)], base_offset=first,
                       partition_leader_epoch=epoch)


async def fetch_once(fetcher: Fetcher, subs: SubscriptionState, node: int = 1) -> None:
    await fetcher._fetch_from(node, [(tp, s) for tp, s in subs.items() if s.fetchable])


def test_fetch_request_is_session_less_and_carries_positions_and_epochs() -> None:
    fetcher, subs, _ = make(max_partition_fetch_bytes=4096, isolation_level="read_committed")
    subs.assign([T0, T1])
    subs.seek(T0, 5, epoch=2)
    subs.state(T0).current_leader_epoch = 3
    subs.seek(T1, 9)
    body = fetch_request([(tp, s) for tp, s in subs.items()], fetcher._config)
    assert body["session_id"] == 0 and body["session_epoch"] == -1
    assert body["isolation_level"] == 1 and body["replica_id"] == -1
    (topic,) = body["topics"]
    assert [(p["partition"], p["fetch_offset"], p["current_leader_epoch"],
             p["last_fetched_epoch"], p["partition_max_bytes"]) for p in topic["partitions"]] == [
        (0, 5, 3, 2, 4096), (1, 9, -1, -1, 4096)
    ]


async def test_fetched_records_are_buffered_and_drained_in_order() -> None:
    fetcher, subs, cluster = make()
    subs.assign([T0, T1])
    subs.seek(T0, 0)
    subs.seek(T1, 3)
    cluster.handlers[ApiKey.FETCH] = fetch_answer({T0: {"records": records(0, 4)},
                                                   T1: {"records": records(3, 2)}})
    await fetch_once(fetcher, subs)
    # the next fetch may go out before anything was returned
    assert subs.state(T0).fetch_offset == 4 and subs.state(T0).position == 0
    assert subs.state(T0).high_watermark == 100
    first = fetcher.drain(3)
    assert [(r.partition, r.offset) for r in first] == [(0, 0), (0, 1), (0, 2)]
    assert subs.state(T0).position == 3
    rest = fetcher.drain(10)
    assert [(r.partition, r.offset) for r in rest] == [(0, 3), (1, 3), (1, 4)]
    assert (subs.state(T0).position, subs.state(T1).position) == (4, 5)
    assert fetcher.buffered_bytes == 0


async def test_a_seek_discards_data_in_flight_and_in_the_buffer() -> None:
    fetcher, subs, cluster = make()
    subs.assign([T0])
    subs.seek(T0, 0)

    def answer_after_seek(body: dict) -> dict:
        subs.seek(T0, 50)  # the application seeks while the fetch is in flight
        return fetch_answer({T0: {"records": records(0, 4)}})(body)

    cluster.handlers[ApiKey.FETCH] = answer_after_seek
    await fetch_once(fetcher, subs)
    assert fetcher.drain(10) == [] and subs.state(T0).fetch_offset == 50

    cluster.handlers[ApiKey.FETCH] = fetch_answer({T0: {"records": records(50, 4)}})
    await fetch_once(fetcher, subs)
    subs.seek(T0, 10)
    assert fetcher.drain(10) == []
    assert subs.state(T0).position == 10 and fetcher.buffered_bytes == 0


async def test_pause_drops_buffered_data_and_resume_fetches_from_the_position() -> None:
    fetcher, subs, cluster = make()
    subs.assign([T0])
    subs.seek(T0, 0)
    cluster.handlers[ApiKey.FETCH] = fetch_answer({T0: {"records": records(0, 4)}})
    await fetch_once(fetcher, subs)
    assert [r.offset for r in fetcher.drain(1)] == [0]
    subs.pause([T0])
    assert fetcher.drain(10) == [] and subs.state(T0).fetch_offset == 1
    assert subs.fetchable() == []
    subs.resume([T0])
    cluster.handlers[ApiKey.FETCH] = fetch_answer({T0: {"records": records(0, 4)}})
    await fetch_once(fetcher, subs)
    assert cluster.requests[-1][2]["topics"][0]["partitions"][0]["fetch_offset"] == 1
    assert [r.offset for r in fetcher.drain(10)] == [1, 2, 3]


async def test_offset_out_of_range_resets_by_policy() -> None:
    fetcher, subs, cluster = make("latest")
    subs.assign([T0])
    subs.seek(T0, 500)
    cluster.handlers[ApiKey.FETCH] = fetch_answer(
        {T0: {"error_code": ErrorCode.OFFSET_OUT_OF_RANGE}}
    )
    await fetch_once(fetcher, subs)
    state = subs.state(T0)
    assert state.position is None and state.reset == "latest"
    cluster.handlers[ApiKey.LIST_OFFSETS] = lambda body: {"topics": [{
        "name": "t", "partitions": [{"partition_index": 0, "error_code": 0, "timestamp": -1,
                                     "offset": 42, "leader_epoch": 0}],
    }]}
    await fetcher._reset_positions([T0])
    sent = cluster.requests[-1][2]["topics"][0]["partitions"][0]
    assert sent["timestamp"] == -1
    assert (state.position, state.fetch_offset) == (42, 42)


async def test_offset_out_of_range_without_policy_is_raised_until_a_seek() -> None:
    fetcher, subs, cluster = make("none")
    subs.assign([T0])
    subs.seek(T0, 500)
    cluster.handlers[ApiKey.FETCH] = fetch_answer(
        {T0: {"error_code": ErrorCode.OFFSET_OUT_OF_RANGE}}
    )
    await fetch_once(fetcher, subs)
    for _ in range(2):
        with pytest.raises(NoOffsetForPartitionError):
            fetcher.raise_errors()
    subs.seek(T0, 0)
    fetcher.raise_errors()


async def test_leadership_errors_back_off_and_refresh_metadata() -> None:
    fetcher, subs, cluster = make()
    subs.assign([T0])
    subs.seek(T0, 0)
    cluster.handlers[ApiKey.FETCH] = fetch_answer(
        {T0: {"error_code": ErrorCode.NOT_LEADER_OR_FOLLOWER}}
    )
    await fetch_once(fetcher, subs)
    assert cluster.updates >= 1
    assert subs.state(T0).retry_at > trio.current_time()
    fetcher.raise_errors()


async def test_authorization_errors_reach_the_application() -> None:
    fetcher, subs, cluster = make()
    subs.assign([T0])
    subs.seek(T0, 0)
    cluster.handlers[ApiKey.FETCH] = fetch_answer(
        {T0: {"error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED}}
    )
    await fetch_once(fetcher, subs)
    with pytest.raises(TopicAuthorizationFailedError):
        fetcher.raise_errors()


async def test_diverging_epoch_moves_the_position_back() -> None:
    fetcher, subs, cluster = make()
    subs.assign([T0])
    subs.seek(T0, 20, epoch=3)
    cluster.handlers[ApiKey.FETCH] = fetch_answer(
        {T0: {"diverging_epoch": {"epoch": 2, "end_offset": 15}, "records": records(20, 2)}}
    )
    await fetch_once(fetcher, subs)
    assert subs.state(T0).position == 15 and fetcher.drain(10) == []


async def test_corrupt_data_is_reported_with_its_offset() -> None:
    fetcher, subs, cluster = make()
    subs.assign([T0])
    subs.seek(T0, 0)
    bad = bytearray(records(0, 3))
    bad[-1] ^= 1
    cluster.handlers[ApiKey.FETCH] = fetch_answer({T0: {"records": bytes(bad)}})
    await fetch_once(fetcher, subs)
    with pytest.raises(Exception, match="t-0 at offset 0"):
        fetcher.raise_errors()


def test_a_higher_leader_epoch_in_metadata_puts_the_position_under_validation() -> None:
    fetcher, subs, cluster = make()
    subs.assign([T0, T1])
    subs.seek(T0, 10, epoch=0)
    subs.seek(T1, 10)  # no epoch known: nothing to validate
    fetcher._note_leader_epochs()
    assert subs.awaiting_validation() == []
    cluster.metadata = metadata(epoch=1)
    fetcher._note_leader_epochs()
    assert subs.awaiting_validation() == [T0]
    assert subs.state(T0).current_leader_epoch == 1 and subs.fetchable() == [T1]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (EpochEnd(0, 3, 20), ("valid", 10)),
        (EpochEnd(0, 3, 10), ("valid", 10)),
        (EpochEnd(0, 2, 7), ("truncated", 7)),
        (EpochEnd(0, -1, -1), ("unknown", -1)),
    ],
)
def test_validate_position(answer: EpochEnd, expected: tuple[str, int]) -> None:
    assert validate_position(10, answer) == expected


def epoch_answer(leader_epoch: int, end_offset: int, code: int = 0) -> Callable[[dict], dict]:
    return lambda body: {"topics": [{"topic": "t", "partitions": [
        {"error_code": code, "partition": 0, "leader_epoch": leader_epoch, "end_offset": end_offset}
    ]}]}


async def test_validation_truncates_to_where_the_logs_agree() -> None:
    fetcher, subs, cluster = make()
    subs.assign([T0])
    subs.state(T0).set_position(30, 4, validate=True)
    subs.state(T0).current_leader_epoch = 5
    cluster.handlers[ApiKey.OFFSET_FOR_LEADER_EPOCH] = epoch_answer(4, 25)
    await fetcher._validate_positions([T0])
    (_, api, body) = cluster.requests[-1]
    assert api == ApiKey.OFFSET_FOR_LEADER_EPOCH
    assert body["topics"][0]["partitions"][0] == {
        "partition": 0, "current_leader_epoch": 5, "leader_epoch": 4
    }
    state = subs.state(T0)
    assert (state.position, state.awaiting_validation) == (25, False)


async def test_validation_keeps_a_valid_position_and_resets_an_unknown_epoch() -> None:
    fetcher, subs, cluster = make("earliest")
    subs.assign([T0])
    subs.state(T0).set_position(30, 4, validate=True)
    cluster.handlers[ApiKey.OFFSET_FOR_LEADER_EPOCH] = epoch_answer(4, 40)
    await fetcher._validate_positions([T0])
    assert subs.state(T0).position == 30 and not subs.state(T0).awaiting_validation
    subs.state(T0).set_position(30, 4, validate=True)
    cluster.handlers[ApiKey.OFFSET_FOR_LEADER_EPOCH] = epoch_answer(-1, -1)
    await fetcher._validate_positions([T0])
    assert subs.state(T0).position is None and subs.state(T0).reset == "earliest"


async def test_truncation_without_reset_policy_is_raised() -> None:
    fetcher, subs, cluster = make("none")
    subs.assign([T0])
    subs.state(T0).set_position(30, 4, validate=True)
    cluster.handlers[ApiKey.OFFSET_FOR_LEADER_EPOCH] = epoch_answer(4, 12)
    await fetcher._validate_positions([T0])
    with pytest.raises(LogTruncationError) as info:
        fetcher.raise_errors()
    assert info.value.divergent == {T0: 12}


async def test_committed_offsets_become_positions_and_missing_ones_reset() -> None:
    cluster = StubCluster()
    config = consumer_config(auto_offset_reset="earliest", group_id="g")
    subs = SubscriptionState("earliest", uses_group=True)

    async def lookup(tps: list[TP]) -> dict[TP, OffsetAndMetadata | None]:
        return {T0: OffsetAndMetadata(17, "", 2), T1: None}

    fetcher = Fetcher(cluster, subs, config, TaskGroup(), lookup)  # type: ignore[arg-type]
    subs.assign([T0, T1])
    assert subs.state(T0).needs_committed and subs.state(T0).reset is None
    await fetcher._resolve_committed([T0, T1])
    s0, s1 = subs.state(T0), subs.state(T1)
    assert (s0.position, s0.position_epoch, s0.awaiting_validation) == (17, 2, True)
    assert (s1.position, s1.reset, s1.needs_committed) == (None, "earliest", False)


def undecodable(first: int, count: int) -> bytes:
    """A gzip batch whose CRC is right but whose payload does not decompress."""
    data = bytearray(build_batch([b"v"] * count, base_offset=first,
                                 compression=Compression.GZIP))
    data[-6] ^= 0xFF
    data[CRC_OFFSET:CRC_START] = crc32c.crc32c(bytes(data[CRC_START:])).to_bytes(4, "big")
    return bytes(data)


async def test_a_batch_that_does_not_decode_stops_its_partition_until_a_seek() -> None:
    fetcher, subs, cluster = make()
    subs.assign([T0, T1])
    subs.seek(T0, 0)
    subs.seek(T1, 0)
    cluster.handlers[ApiKey.FETCH] = fetch_answer({
        T0: {"records": records(0, 2) + undecodable(2, 2)}, T1: {"records": records(0, 1)},
    })
    await fetch_once(fetcher, subs)
    cluster.handlers[ApiKey.FETCH] = fetch_answer({T0: {"records": records(4, 2)}})
    await fetch_once(fetcher, subs)
    got = fetcher.drain(100)
    assert [(r.partition, r.offset) for r in got] == [(0, 0), (0, 1), (1, 0)]
    for _ in range(2):
        with pytest.raises(RecordDecodeError, match="t-0 at offset 2"):
            fetcher.raise_errors()
    assert fetcher.drain(100) == [] and subs.state(T0).position == 2
    # the stopped partition is left out of the next fetch
    cluster.handlers[ApiKey.FETCH] = fetch_answer({})
    fetcher._start_fetches(trio.current_time())
    await trio.sleep(0.05)
    sent = cluster.requests[-1][2]["topics"][0]["partitions"]
    assert [p["partition"] for p in sent] == [1]
    subs.seek(T0, 4)
    fetcher.raise_errors()
