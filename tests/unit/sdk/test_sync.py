"""The blocking facade: a fake broker on a thread of its own, sync clients in the test's."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import trio

import client.sync
from client.errors import KafkaTimeoutError, TopicAlreadyExistsError
from unit.sdk.fake_broker import FakeBroker, FakeState


@pytest.fixture
def threaded_fake() -> Iterator[FakeBroker]:
    """A fake broker served by a trio loop in a background thread."""
    ready = threading.Event()
    holder: dict = {}

    async def main() -> None:
        state = FakeState()
        state.add_topic("t", 3)
        async with trio.open_nursery() as nursery:
            holder["broker"] = await FakeBroker(state, 0).start(nursery)
            holder["token"] = trio.lowlevel.current_trio_token()
            holder["stop"] = trio.Event()
            ready.set()
            await holder["stop"].wait()
            nursery.cancel_scope.cancel()

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    ready.wait()
    yield holder["broker"]
    trio.from_thread.run_sync(holder["stop"].set, trio_token=holder["token"])
    thread.join()


def test_sync_producer_delivers(threaded_fake: FakeBroker) -> None:
    with client.sync.Producer(threaded_fake.bootstrap, linger_ms=1) as producer:
        first = producer.send("t", b"a", partition=0).get(timeout=10)
        futures = [producer.send("t", b"%d" % i, partition=1) for i in range(500)]
        producer.flush()
        assert all(f.done() for f in futures)
        meta = producer.send_and_wait("t", b"z", key=b"k", timeout=10)
        assert producer.partitions_for("t") == [0, 1, 2]
    assert (first.partition, first.offset) == (0, 0)
    assert [f.result().offset for f in futures] == list(range(500))
    assert meta.topic == "t"
    assert len(threaded_fake.state.records("t", 1)) == 500


def test_sync_producer_from_many_threads(threaded_fake: FakeBroker) -> None:
    with client.sync.Producer(threaded_fake.bootstrap, linger_ms=1, batch_size=2000) as producer:

        def work(n: int) -> None:
            for i in range(300):
                producer.send("t", b"%d-%d" % (n, i), partition=2)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        producer.flush()
    values = [r.value for r in threaded_fake.state.records("t", 2)]
    assert len(values) == 1200 and len(set(values)) == 1200
    for n in range(4):
        mine = [v for v in values if v.startswith(b"%d-" % n)]
        assert mine == [b"%d-%d" % (n, i) for i in range(300)]  # per-thread order kept


def test_sync_get_times_out(threaded_fake: FakeBroker) -> None:
    async def never(header, body):  # type: ignore[no-untyped-def]
        await trio.sleep_forever()

    threaded_fake.hooks[0] = never  # Produce
    producer = client.sync.Producer(threaded_fake.bootstrap, linger_ms=0)
    future = producer.send("t", b"x")
    with pytest.raises(KafkaTimeoutError):
        future.get(timeout=0.2)
    producer.close(timeout=0.1)


def test_sync_admin(threaded_fake: FakeBroker) -> None:
    with client.sync.Admin(threaded_fake.bootstrap) as admin:
        admin.create_topic("new", 2)
        assert admin.list_topics() == ["new", "t"]
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topic("new")
        assert admin.describe_cluster().cluster_id == "fake"
    assert client.sync.Admin.create_topics.__doc__ == client.Admin.create_topics.__doc__


def test_sync_options_checked_in_caller_thread() -> None:
    with pytest.raises(TypeError, match="linger"):
        client.sync.Producer("127.0.0.1:1", lingerms=5)
    assert threading.active_count() >= 1


class _Echo:
    """A stand-in async client with the shapes the consumer has."""

    def __init__(self) -> None:
        self.started = self.closed = False
        self.items = [1, 2, 3]
        self.thread: str | None = None

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True

    async def double(self, x: int) -> int:
        await trio.sleep(0)
        return 2 * x

    def where(self) -> str:
        self.thread = threading.current_thread().name
        return self.thread

    def __aiter__(self) -> _Echo:
        return self

    async def __anext__(self) -> int:
        if not self.items:
            raise StopAsyncIteration
        return self.items.pop(0)


def test_bridge_runs_methods_on_the_loop_thread() -> None:
    class SyncEcho(client.sync._SyncConsumer):
        def __init__(self) -> None:
            self._start(_Echo(), "echo-loop")

    with SyncEcho() as echo:
        assert echo.started is True
        assert echo.double(21) == 42
        assert echo.where() == "echo-loop"
        assert list(echo) == [1, 2, 3]
        target = echo._target
    assert target.closed
