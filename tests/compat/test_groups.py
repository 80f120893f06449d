"""Consumer groups with confluent-kafka members in separate processes against a real broker.

Three members share a 6-partition topic; one dies with os._exit (no LeaveGroup) after a few
thousand records and the others take its partitions once its session times out.  Ownership is
recorded from each member's rebalance callbacks: no partition may be owned by two live members
at the same moment.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from harness.broker import BrokerProcess

WORKER = Path(__file__).with_name("group_worker.py")
PARTITIONS = 6
RECORDS = 30_000


@pytest.fixture(scope="module")
def group_broker(tmp_path_factory: pytest.TempPathFactory):
    """A broker whose first rebalance does not wait the default 3 s for more members."""
    process = BrokerProcess(
        tmp_path_factory.mktemp("broker"), {"group.initial.rebalance.delay.ms": "500"}
    )
    with process:
        yield process


def produce(bootstrap: str, topic: str) -> set[str]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(15)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    values = {f"v{i}" for i in range(RECORDS)}
    for i in range(RECORDS):
        producer.produce(topic, f"v{i}".encode(), f"k{i}".encode())
    assert producer.flush(30) == 0
    return values


def read_events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def ownership_intervals(events: list[dict], end: float) -> dict[int, list[tuple[float, float]]]:
    """partition -> [(from, to)] during which this member owned it."""
    owned: dict[int, float] = {}
    intervals: dict[int, list[tuple[float, float]]] = {}
    for event in events:
        if event["event"] == "assign":
            for p in event["partitions"]:
                owned.setdefault(p, event["t"])
        elif event["event"] in ("revoke", "lost"):
            for p in event["partitions"]:
                if p in owned:
                    intervals.setdefault(p, []).append((owned.pop(p), event["t"]))
        elif event["event"] in ("dying", "closed"):
            end = event["t"]
    for p, start in owned.items():
        intervals.setdefault(p, []).append((start, end))
    return intervals


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_three_members_one_dies(group_broker: BrokerProcess, tmp_path: Path, strategy: str):
    topic = f"groups-{strategy}"
    group = f"group-{strategy}"
    produced = produce(group_broker.bootstrap, topic)
    stop = tmp_path / "stop"
    outputs = [tmp_path / f"member{i}.jsonl" for i in range(3)]
    die_after = [0, 0, 3000]
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), group_broker.bootstrap, topic, group, strategy,
             str(die_after[i]), str(outputs[i]), str(stop)],
            stderr=subprocess.DEVNULL,
        )
        for i in range(3)
    ]
    try:
        deadline = time.monotonic() + 120
        consumed: set[str] = set()
        while time.monotonic() < deadline:
            consumed = {
                item[2]
                for path in outputs
                for event in read_events(path)
                if event["event"] == "records"
                for item in event["items"]
            }
            if consumed >= produced:
                break
            time.sleep(0.5)
        stop.touch()
        codes = [w.wait(60) for w in workers]
    finally:
        for w in workers:
            w.kill()
    assert codes[2] == 1, "the third member should have died with os._exit(1)"
    assert codes[:2] == [0, 0]
    assert consumed == produced

    dead_events = read_events(outputs[2])
    assert any(e["event"] == "dying" for e in dead_events)
    dead_owned = {p for e in dead_events if e["event"] == "assign" for p in e["partitions"]}
    assert dead_owned, "the member that died owned partitions before it died"
    survivors_after_death = set()
    death = next(e["t"] for e in dead_events if e["event"] == "dying")
    for path in outputs[:2]:
        for event in read_events(path):
            if event["event"] == "assign" and event["t"] > death:
                survivors_after_death |= set(event["partitions"])
    assert dead_owned & survivors_after_death, "its partitions moved to the survivors"

    for path in outputs[:2]:
        lost = [e for e in read_events(path) if e["event"] == "lost"]
        assert lost == [], f"a live member lost its assignment (fenced by the coordinator): {lost}"

    end = time.monotonic()
    intervals = [ownership_intervals(read_events(path), end) for path in outputs]
    for partition in range(PARTITIONS):
        spans = sorted(
            (start, stop_, member)
            for member, owned in enumerate(intervals)
            for start, stop_ in owned.get(partition, [])
        )
        for (s1, e1, m1), (s2, e2, m2) in zip(spans, spans[1:]):
            assert m1 == m2 or s2 >= e1, (
                f"partition {partition} owned by member {m1} until {e1:.3f} "
                f"and by member {m2} from {s2:.3f}"
            )
