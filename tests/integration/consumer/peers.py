"""Helpers for consumer integration tests: topics and records made with confluent-kafka (an
independent client), ownership logs, and a confluent-kafka group member on a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from confluent_kafka import Consumer as CKConsumer, Producer as CKProducer
from confluent_kafka.admin import AdminClient, NewTopic

from client.consumer import RebalanceListener, TopicPartition


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    """Create ``name`` with ``partitions`` partitions and wait until it exists."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        topic = admin.list_topics(name, timeout=10).topics.get(name)
        if topic is not None and topic.error is None and len(topic.partitions) == partitions:
            return
        time.sleep(0.1)
    raise TimeoutError(f"topic {name} did not appear with {partitions} partitions")


def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[int, bytes, int | None]],
) -> None:
    """Produce ``(partition, value, timestamp or None)`` records and wait for every ack."""
    producer = CKProducer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    errors: list = []

    def delivered(err: object, msg: object) -> None:
        if err is not None:
            errors.append(err)

    for partition, value, timestamp in records:
        kwargs = {"timestamp": timestamp} if timestamp is not None else {}
        producer.produce(topic, value=value, key=value, partition=partition,
                         on_delivery=delivered, **kwargs)
    remaining = producer.flush(30)
    assert remaining == 0 and not errors, f"produce failed: {errors}, {remaining} not delivered"


class OwnershipLog:
    """Who owned which partition when, from every member's rebalance callbacks (times from
    time.monotonic, shared by the trio members and the confluent-kafka threads)."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, str, frozenset[TopicPartition]]] = []
        self._lock = threading.Lock()

    def record(self, member: str, kind: str, partitions: Iterable[TopicPartition]) -> None:
        with self._lock:
            self.events.append((time.monotonic(), member, kind, frozenset(partitions)))

    def owners(self) -> dict[TopicPartition, str]:
        """The owner of each partition after the last event."""
        return self.check()

    def check(self) -> dict[TopicPartition, str]:
        """Replay the events; AssertionError if a partition was ever assigned to one member
        while another still owned it, or revoked from a member that did not own it."""
        owners: dict[TopicPartition, str] = {}
        with self._lock:
            events = sorted(self.events, key=lambda e: e[0])
        for _, member, kind, parts in events:
            for tp in parts:
                if kind == "assigned":
                    assert owners.get(tp) in (None, member), (
                        f"{tp} assigned to {member} while {owners[tp]} owned it"
                    )
                    owners[tp] = member
                elif owners.get(tp) == member:
                    del owners[tp]
                else:
                    assert kind == "lost", f"{member} revoked {tp} it did not own"
        return owners


class LoggingListener(RebalanceListener):
    """An SDK member's callbacks, written to an OwnershipLog."""

    def __init__(self, name: str, log: OwnershipLog) -> None:
        self.name = name
        self.log = log

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.log.record(self.name, "revoked", revoked)

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.log.record(self.name, "assigned", assigned)

    def on_partitions_lost(self, lost: set[TopicPartition]) -> None:
        self.log.record(self.name, "lost", lost)


class ConfluentMember:
    """A confluent-kafka consumer polling on its own thread, logging its callbacks."""

    def __init__(self, name: str, bootstrap: str, group: str, topic: str, strategy: str,
                 log: OwnershipLog) -> None:
        self.name = name
        self.log = log
        self.values: list[bytes] = []
        self.assignment: set[TopicPartition] = set()
        self._stop = threading.Event()
        self._consumer = CKConsumer({
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": name,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 200,
            "partition.assignment.strategy": strategy,
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 500,
        })
        self._consumer.subscribe(
            [topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost
        )
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @staticmethod
    def _tps(partitions: list) -> set[TopicPartition]:
        return {TopicPartition(p.topic, p.partition) for p in partitions}

    def _assigned(self, consumer: object, partitions: list) -> None:
        tps = self._tps(partitions)
        self.assignment |= tps
        self.log.record(self.name, "assigned", tps)

    def _revoked(self, consumer: object, partitions: list) -> None:
        tps = self._tps(partitions)
        self.assignment -= tps
        self.log.record(self.name, "revoked", tps)

    def _lost(self, consumer: object, partitions: list) -> None:
        tps = self._tps(partitions)
        self.assignment -= tps
        self.log.record(self.name, "lost", tps)

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._consumer.poll(0.1)
            if message is not None and message.error() is None:
                self.values.append(message.value())
        self._consumer.close()

    def start(self) -> ConfluentMember:
        """Begin polling."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the consumer (leaving the group) and wait for its thread."""
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), f"{self.name} did not close"
