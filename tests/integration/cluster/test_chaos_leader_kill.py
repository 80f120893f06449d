"""kill -9 of the partition leader while an idempotent acks=all producer writes, ten times.

RF=3 and min.insync.replicas=2: whatever the producer was told is written must be readable
afterwards, exactly once, however many leaders died under it; and each time a new leader must
take writes within a few seconds (the registration lease is two seconds in the harness).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from harness.cluster import (  # noqa: F401 (fixtures)
    ClusterProcesses,
    cluster,
    cluster_etcd,
    consume_values,
)

ROUNDS = 10
RATE = 400  # records/s: enough to be mid-stream at every kill, light for two shared cores
MAX_FAILOVER_S = 8.0


class StreamingProducer:
    """An idempotent acks=all producer writing numbered records from a thread of its own.

    It remembers when each record was handed over and the outcome of its delivery report, so
    a test can ask "was a record produced after time t acknowledged yet?".
    """

    def __init__(self, bootstrap: str, topic: str, *, producer: Any = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.topic = topic
        self.clock = clock
        self.producer = producer or Producer({
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 60_000,
            "retry.backoff.ms": 100,
            "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 500,
            "topic.metadata.refresh.interval.ms": 1000,
        })
        self.sent_at: dict[int, float] = {}
        self.acked: dict[int, float] = {}  # sequence -> when the success report came
        self.failed: dict[int, str] = {}
        self.fatal: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _report(self, error: KafkaError | None, message: Message) -> None:
        sequence = int(message.value())
        with self._lock:
            if error is None:
                self.acked[sequence] = time.monotonic()
            else:
                self.failed[sequence] = str(error)
                if error.fatal():
                    self.fatal.append(str(error))

    def _run(self) -> None:
        sequence = 0
        started = self.clock()
        while not self._stop.is_set():
            # One reading of the clock: with a second one the wait could come out negative,
            # and poll() takes that as "until an event", which never comes once all is acked.
            wait = started + sequence / RATE - self.clock()
            if wait > 0:
                self.producer.poll(min(0.01, wait))
                continue
            with self._lock:
                self.sent_at[sequence] = self.clock()
            try:
                self.producer.produce(self.topic, b"%d" % sequence, partition=0,
                                      on_delivery=self._report)
            except BufferError:
                self.producer.poll(0.05)
                continue
            sequence += 1
            self.producer.poll(0)

    def start(self) -> None:
        """Start writing."""
        self._thread.start()

    def acked_after(self, moment: float) -> float | None:
        """When the first record handed over after ``moment`` was acknowledged, if one was."""
        with self._lock:
            times = [self.acked[s] for s, sent in self.sent_at.items()
                     if sent > moment and s in self.acked]
        return min(times) if times else None

    def finish(self, timeout: float = 60.0) -> int:
        """Stop writing and wait for every outstanding delivery report; records left over."""
        self._stop.set()
        self._thread.join()
        return self.producer.flush(timeout)


def test_the_streaming_producer_never_waits_without_a_timeout() -> None:
    """Its pacing must not hand poll() a negative timeout (a wait with no end) when the clock
    passes a record's due time between two readings."""
    ticks = iter(range(1_000_000))
    stream: StreamingProducer

    class Recorder:
        def __init__(self) -> None:
            self.timeouts: list[float] = []

        def poll(self, timeout: float) -> int:
            self.timeouts.append(timeout)
            if len(self.timeouts) >= 500:
                stream._stop.set()
            return 0

        def produce(self, *args: object, **kwargs: object) -> None:
            pass

    recorder = Recorder()
    # 0.7 ms a reading: readings fall on both sides of every 2.5 ms due time.
    stream = StreamingProducer("unused", "t", producer=recorder,
                               clock=lambda: next(ticks) * 0.0007)
    stream._run()
    assert len(recorder.timeouts) == 500 and len(stream.sent_at) > 100
    assert min(recorder.timeouts) >= 0, sorted(recorder.timeouts)[:5]


def test_every_acknowledged_record_survives_ten_leader_kills(cluster: ClusterProcesses) -> None:
    topic = "leader-kills"
    cluster.create_topic(topic, partitions=1, replication_factor=3,
                         configs={"min.insync.replicas": "2"})
    stream = StreamingProducer(cluster.bootstrap, topic)
    stream.start()
    failovers: list[float] = []
    try:
        for _ in range(ROUNDS):
            info = cluster.wait_isr(topic, 0, 3, timeout=40)
            # Mid-stream: records are flowing to this leader right now.
            cluster.wait_for(lambda: stream.acked_after(time.monotonic() - 0.5), 20,
                             what="records acknowledged before the kill")
            killed_at = time.monotonic()
            cluster.kill(info.leader)
            cluster.leader_of(topic, 0, exclude=(info.leader,), min_epoch=info.leader_epoch,
                              timeout=20)
            served = cluster.wait_for(lambda: stream.acked_after(killed_at), 30,
                                      interval=0.02, what="a record written after the kill acked")
            failovers.append(round(served - killed_at, 2))
            cluster.start_node(info.leader)
        assert stream.finish() == 0, "delivery reports still outstanding"
    finally:
        stream._stop.set()
    print(f"leader failover (kill to first new record acknowledged), s: {failovers}; "
          f"{len(stream.acked)} records acknowledged, {len(stream.failed)} failed")

    assert not stream.fatal, stream.fatal
    assert len(failovers) == ROUNDS
    assert max(failovers) <= MAX_FAILOVER_S, failovers
    acked = set(stream.acked)
    assert len(acked) > ROUNDS * RATE, "the producer hardly got anything through"

    values = consume_values(cluster.bootstrap, topic, expect=len(acked), timeout=60)
    read = [int(v) for v in values]
    duplicates = sorted(s for s, n in Counter(read).items() if n > 1)
    assert not duplicates, f"records read more than once: {duplicates[:20]}"
    lost = sorted(acked - set(read))
    assert not lost, f"{len(lost)} acknowledged records missing, first {lost[:20]}"
    # Records are read in the order the idempotent producer wrote them.
    assert read == sorted(read)


def test_a_leader_restarted_at_once_does_not_lead_from_its_previous_life(
    cluster: ClusterProcesses,
) -> None:
    """kill -9 and an immediate restart, as a process supervisor does: the new process may
    register before the old registration's lease has lapsed, and must not take the dead
    process's leadership for its own; writes go on within a few seconds and nothing that
    was acknowledged is lost or doubled."""
    topic = "quick-restarts"
    cluster.create_topic(topic, partitions=1, replication_factor=3,
                         configs={"min.insync.replicas": "2"})
    stream = StreamingProducer(cluster.bootstrap, topic)
    stream.start()
    stalls: list[float] = []
    try:
        for _ in range(3):
            info = cluster.wait_isr(topic, 0, 3, timeout=40)
            cluster.wait_for(lambda: stream.acked_after(time.monotonic() - 0.5), 20,
                             what="records acknowledged before the kill")
            killed_at = time.monotonic()
            cluster.restart(info.leader)
            served = cluster.wait_for(lambda: stream.acked_after(killed_at), 30,
                                      interval=0.02, what="a record written after the kill acked")
            stalls.append(round(served - killed_at, 2))
            after = cluster.metadata(topic)[0]
            assert after.leader_epoch > info.leader_epoch, (info, after)
        assert stream.finish() == 0, "delivery reports still outstanding"
    finally:
        stream._stop.set()
    print(f"writes stalled after kill and immediate restart, s: {stalls}")

    assert not stream.fatal, stream.fatal
    assert max(stalls) <= MAX_FAILOVER_S, stalls
    acked = set(stream.acked)
    values = consume_values(cluster.bootstrap, topic, expect=len(acked), timeout=60)
    read = [int(v) for v in values]
    assert not sorted(s for s, n in Counter(read).items() if n > 1), "records read twice"
    assert not acked - set(read), f"{len(acked - set(read))} acknowledged records missing"
