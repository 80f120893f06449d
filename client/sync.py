"""Blocking clients for code that does not run an event loop.

``from client.sync import Producer, Consumer, Admin`` gives the same names, options and
methods as the async clients in :mod:`client`, minus ``await``. Each sync client runs a trio
event loop in a daemon thread of its own and calls into it with ``trio.from_thread``; the
async client does the work there.

The producer's hot path does not cross threads: ``send`` appends to the accumulator
directly under its lock and returns the record's future at once; the loop thread is only
woken when a batch is opened or sealed. ``future.get(timeout)`` blocks until delivery, as
in kafka-python. Everything else (``flush``, ``close``, admin calls, consumer polls) runs on
the loop thread and blocks the caller until it is done; exceptions cross over unchanged.

::

    from client.sync import Producer, Admin

    with Admin("localhost:9092") as admin:
        admin.create_topic("events", num_partitions=3)
    with Producer("localhost:9092") as producer:
        metadata = producer.send("events", b"hello", key=b"k").get(timeout=10)
        for i in range(1000):
            producer.send("events", b"%d" % i)
        producer.flush()
"""

from __future__ import annotations

import importlib.util
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, TypeVar

import trio

from client import admin as _admin
from client.accumulator import Headers, RecordFuture, RecordMetadata
from client.errors import BufferFullError
from client.producer import Producer as AsyncProducer

__all__ = ["Producer", "Admin", "Consumer", "RecordFuture", "RecordMetadata"]

T = TypeVar("T")


class _LoopThread:
    """A trio event loop in a daemon thread, kept alive until :meth:`stop`."""

    def __init__(self, name: str) -> None:
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop_event: trio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=trio.run, args=(self._main,), name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    async def _main(self) -> None:
        self._stop_event = trio.Event()
        self._token = trio.lowlevel.current_trio_token()
        self._ready.set()
        await self._stop_event.wait()

    def run(self, afn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await afn(*args)`` on the loop thread; block until it returns or raises."""
        return trio.from_thread.run(afn, *args, trio_token=self._token)

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the loop thread; block until it returns or raises."""
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Schedule ``fn(*args)`` on the loop thread without waiting (any thread may call)."""
        assert self._token is not None
        self._token.run_sync_soon(fn, *args)

    @property
    def alive(self) -> bool:
        """True until :meth:`stop` ended the loop."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """End the loop and join its thread."""
        if self._thread.is_alive() and self._stop_event is not None:
            self.run_sync(self._stop_event.set)
            self._thread.join()


class Producer:
    """Blocking producer with the async :class:`client.Producer`'s options and methods.

    ``send`` returns a future at once (``future.get(timeout)`` blocks until delivery) and
    blocks only for a new topic's metadata or, when ``buffer_memory`` is full, for space
    (at most ``max_block_ms``, then BufferFullError).
    """

    def __init__(
        self, bootstrap_servers: str | Iterable[str] = "localhost:9092", **options: Any
    ) -> None:
        # built here so that bad options raise in the caller's thread before any thread starts
        self._producer = AsyncProducer(bootstrap_servers, **options)
        acc = self._producer._acc
        acc.thread_events = True
        self._lock = acc.lock
        self._space = threading.Condition()
        self._max_block = self._producer.options["max_block_ms"] / 1000
        self._loop = _LoopThread("rillet-sync-producer")
        # batches are opened in the caller's thread: read the loop's clock from there
        acc.clock = self._loop.run_sync(trio.lowlevel.current_clock).current_time
        acc.on_batch = self._wake
        self._producer._space_listeners.append(self._space_freed)
        try:
            self._loop.run(self._producer.start)
        except BaseException:
            self._loop.stop()
            raise

    def _wake(self) -> None:
        self._loop.call_soon(self._producer._wake)

    def _space_freed(self) -> None:
        with self._space:
            self._space.notify_all()

    @property
    def options(self) -> dict[str, Any]:
        """The validated options, defaults filled in."""
        return self._producer.options

    def send(
        self,
        topic: str,
        value: Any,
        key: Any = None,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp: int | None = None,
    ) -> RecordFuture:
        """Buffer one record; returns its future (``.get(timeout)`` for the RecordMetadata)."""
        try:
            with self._lock:
                return self._producer.send_nowait(topic, value, key, headers, partition, timestamp)
        except trio.WouldBlock:
            return self._send_blocking(topic, value, key, headers, partition, timestamp)

    def _send_blocking(
        self,
        topic: str,
        value: Any,
        key: Any,
        headers: Headers | None,
        partition: int | None,
        timestamp: int | None,
    ) -> RecordFuture:
        deadline = time.monotonic() + self._max_block
        while True:
            if topic not in self._producer._acc.topics:
                self._loop.run(self._producer.wait_for_topic, topic)
            try:
                with self._lock:
                    return self._producer.send_nowait(
                        topic, value, key, headers, partition, timestamp
                    )
            except trio.WouldBlock:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BufferFullError(
                    f"buffer_memory stayed full for max_block_ms={self.options['max_block_ms']}"
                )
            with self._space:
                if self._producer._acc.full():
                    self._space.wait(min(remaining, 0.1))

    def send_and_wait(
        self,
        topic: str,
        value: Any,
        key: Any = None,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp: int | None = None,
        timeout: float | None = None,
    ) -> RecordMetadata:
        """Send one record and block until it is delivered."""
        future = self.send(topic, value, key, headers, partition, timestamp)
        return future.get(timeout)

    def partitions_for(self, topic: str) -> list[int]:
        """The partition indexes of ``topic``."""
        return self._loop.run(self._producer.partitions_for, topic)

    def flush(self, timeout: float | None = None) -> None:
        """Send everything buffered and block until each record is delivered or failed."""
        self._loop.run(self._producer.flush, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is buffered (at most ``timeout`` seconds), then stop."""
        if not self._loop.alive:
            return
        try:
            self._loop.run(self._producer.close, timeout)
        finally:
            self._loop.stop()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Bridge:
    """Base of sync clients that run every coroutine method of an async client on a loop
    thread; plain methods and attributes are reached on the loop thread too."""

    _loop: _LoopThread
    _target: Any

    def _start(self, target: Any, name: str) -> None:
        self._target = target
        self._loop = _LoopThread(name)
        try:
            self._loop.run(target.start)
        except BaseException:
            self._loop.stop()
            raise

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self._target, name)
        if inspect.iscoroutinefunction(method):
            return self._loop.run(lambda: method(*args, **kwargs))
        return self._loop.run_sync(lambda: method(*args, **kwargs))

    def _close(self, *args: Any, **kwargs: Any) -> None:
        if not self._loop.alive:
            return
        try:
            self._call("close", *args, **kwargs)
        finally:
            self._loop.stop()

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()


def _bridged(name: str, source: type) -> Callable[..., Any]:
    original = getattr(source, name)

    def method(self: _Bridge, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, *args, **kwargs)

    method.__name__ = name
    method.__qualname__ = f"{source.__name__}.{name}"
    method.__doc__ = original.__doc__
    method.__signature__ = inspect.signature(original)  # type: ignore[attr-defined]
    return method


class Admin(_Bridge):
    """Blocking admin client with the async :class:`client.Admin`'s options and methods."""

    def __init__(
        self, bootstrap_servers: str | Iterable[str] = "localhost:9092", **options: Any
    ) -> None:
        self._start(_admin.Admin(bootstrap_servers, **options), "rillet-sync-admin")

    def close(self) -> None:
        """Disconnect."""
        self._close()


for _name in (
    "create_topics", "create_topic", "delete_topics", "list_topics", "describe_topics",
    "create_partitions", "describe_configs", "alter_configs", "list_groups",
    "describe_groups", "delete_groups", "alter_group_offsets", "list_group_offsets",
    "describe_cluster", "list_offsets", "describe_log_dirs",
):
    setattr(Admin, _name, _bridged(_name, _admin.Admin))


class _SyncConsumer(_Bridge):
    """Blocking consumer: the async consumer's methods without ``await``; iterating yields
    records as they arrive."""

    def __init__(self, *topics: str, **options: Any) -> None:
        from client.consumer import Consumer as AsyncConsumer

        self._start(AsyncConsumer(*topics, **options), "rillet-sync-consumer")

    def close(self, *args: Any, **kwargs: Any) -> None:
        """Leave the group (committing first when auto-commit is on) and disconnect."""
        self._close(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # everything the async consumer offers, run on the loop thread
        if name.startswith("_"):
            raise AttributeError(name)
        attribute = getattr(type(self._target), name, None)
        if callable(attribute):
            return lambda *args, **kwargs: self._call(name, *args, **kwargs)
        return self._loop.run_sync(getattr, self._target, name)

    def __iter__(self) -> Iterator[Any]:
        anext = self._target.__anext__
        while True:
            try:
                yield self._loop.run(anext)
            except StopAsyncIteration:
                return


# The consumer is built by its own part of the SDK (client.consumer); until that package is
# present the name exists but refuses to construct, saying why.
if importlib.util.find_spec("client.consumer") is not None:
    Consumer: Any = _SyncConsumer
else:

    class Consumer:  # type: ignore[no-redef]
        """Placeholder until the ``client.consumer`` package is installed."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise ImportError("client.consumer is not available in this build")
