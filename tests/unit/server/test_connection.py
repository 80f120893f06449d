"""The connection loop over in-memory streams, with a virtual clock."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.testing

from broker.metrics import Metrics
from broker.server.connection import Connection, ConnectionLimits
from broker.server.context import ConnectionInfo


def _connection(
    dispatcher: Any, limits: ConnectionLimits | None = None, metrics: Metrics | None = None
) -> tuple[Connection, trio.abc.Stream]:
    client, server = trio.testing.memory_stream_pair()
    conn = Connection(
        server,
        ConnectionInfo(1, "test:1", "PLAINTEXT"),
        dispatcher,
        limits or ConnectionLimits(),
        metrics.server if metrics else None,
    )
    return conn, client


async def test_responses_leave_in_request_order_when_handlers_finish_out_of_order(
    dispatcher: Any, wire: Any, autojump_clock: trio.testing.MockClock
) -> None:
    conn, client = _connection(dispatcher)
    delays = [50, 40, 30, 20, 10, 0]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        start = trio.current_time()
        requests = [wire.frame(f"echo {d} r{i}".encode()) for i, d in enumerate(delays)]
        await client.send_all(b"".join(requests))
        responses = await wire.read_frames(client, len(delays))
        elapsed = trio.current_time() - start
        await client.aclose()
    assert responses == [f"re:r{i}".encode() for i in range(len(delays))]
    assert dispatcher.finished == [f"r{i}" for i in reversed(range(len(delays)))]
    # Concurrent, not one after another: the slowest handler bounds the time.
    assert elapsed < sum(delays) / 1000


async def test_none_from_a_handler_sends_nothing_and_keeps_order(
    dispatcher: Any, wire: Any, autojump_clock: trio.testing.MockClock
) -> None:
    conn, client = _connection(dispatcher)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        await client.send_all(
            wire.frame(b"none 30 a") + wire.frame(b"echo 20 b") + wire.frame(b"none 0 c")
            + wire.frame(b"echo 0 d")
        )
        responses = await wire.read_frames(client, 2)
        with trio.move_on_after(1):
            extra = await client.receive_some(100)
            pytest.fail(f"unexpected bytes {extra!r}")
        await client.aclose()
    assert responses == [b"re:b", b"re:d"]
    assert sorted(dispatcher.finished) == ["a", "b", "c", "d"]


async def test_malformed_frame_closes_with_one_log_line(
    dispatcher: Any,
    wire: Any,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    metrics = Metrics()
    conn, client = _connection(dispatcher, metrics=metrics)
    caplog.set_level(logging.INFO, logger="rillet")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        await client.send_all(wire.frame(b"echo 0 ok") + wire.frame(b"garbage"))
        frames = await wire.read_frames(client, 2)
    assert conn.close_reason == "malformed"
    assert frames in ([], [b"re:ok"])  # the earlier response may or may not have left
    lines = [r for r in caplog.records if r.name.startswith("rillet")]
    assert len(lines) == 1 and "malformed" in lines[0].getMessage()
    assert metrics.registry.get_sample_value(
        "rillet_server_connections_closed_total", {"reason": "malformed"}
    ) == 1


async def test_oversized_prefix_closes_before_the_body_arrives(
    dispatcher: Any, autojump_clock: trio.testing.MockClock
) -> None:
    conn, client = _connection(dispatcher, ConnectionLimits(max_frame_size=1000))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        await client.send_all((1001).to_bytes(4, "big"))
        assert await client.receive_some(10) == b""
    assert conn.close_reason == "oversized"


async def test_negative_size_prefix_closes(
    dispatcher: Any, autojump_clock: trio.testing.MockClock
) -> None:
    conn, client = _connection(dispatcher)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        await client.send_all((-5).to_bytes(4, "big", signed=True))
        assert await client.receive_some(10) == b""
    assert conn.close_reason == "oversized"


async def test_handler_exception_closes_only_after_logging(
    dispatcher: Any,
    wire: Any,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    conn, client = _connection(dispatcher)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        await client.send_all(wire.frame(b"fail 0 x"))
        assert await client.receive_some(10) == b""
    assert conn.close_reason == "handler"
    assert any("handler failed on x" in r.getMessage() for r in caplog.records)


async def test_idle_connection_closes_after_the_timeout(
    dispatcher: Any, wire: Any, autojump_clock: trio.testing.MockClock
) -> None:
    conn, client = _connection(dispatcher, ConnectionLimits(idle_timeout=5.0))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        await trio.sleep(3)
        await client.send_all(wire.frame(b"echo 0 a"))
        assert await wire.read_frames(client, 1) == [b"re:a"]
        activity = trio.current_time()
        assert await client.receive_some(10) == b""
        closed_after = trio.current_time() - activity
    assert conn.close_reason == "idle"
    assert 5.0 <= closed_after < 5.5


async def test_a_slow_request_in_flight_is_not_idleness(
    dispatcher: Any, wire: Any, autojump_clock: trio.testing.MockClock
) -> None:
    conn, client = _connection(dispatcher, ConnectionLimits(idle_timeout=5.0))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        await client.send_all(wire.frame(b"echo 12000 slow"))
        assert await wire.read_frames(client, 1) == [b"re:slow"]
        assert conn.close_reason is None
        await client.aclose()


async def test_reading_stops_while_queued_bytes_exceed_the_bound(
    dispatcher: Any, wire: Any, autojump_clock: trio.testing.MockClock
) -> None:
    limit = 200
    conn, client = _connection(dispatcher, ConnectionLimits(max_queued_bytes=limit))
    requests = [wire.frame(f"wait 0 {i:03d}".encode() + b"." * 40) for i in range(50)]
    frame_size = len(requests[0])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        await client.send_all(b"".join(requests))
        await trio.sleep(1)
        stats = conn.statistics()
        # The reader stopped: few requests admitted, the rest left unread.
        assert stats.requests < len(requests)
        assert stats.peak_queued_bytes < limit + frame_size
        assert len(dispatcher.started) == stats.requests
        dispatcher.release.set()
        responses = await wire.read_frames(client, len(requests))
        await client.aclose()
    assert len(responses) == len(requests)
    assert responses == [f"re:{i:03d}".encode() + b"." * 40 for i in range(50)]
    # Responses of admitted requests add to the queue (here about as large as the requests),
    # but nothing more is read until it is back under the bound.
    assert conn.statistics().peak_queued_bytes < 2 * (limit + frame_size)


async def test_one_request_larger_than_the_bound_is_still_served(
    dispatcher: Any, wire: Any, autojump_clock: trio.testing.MockClock
) -> None:
    conn, client = _connection(dispatcher, ConnectionLimits(max_queued_bytes=10))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        await client.send_all(wire.frame(b"echo 0 big") + wire.frame(b"echo 0 next"))
        assert await wire.read_frames(client, 2) == [b"re:big", b"re:next"]
        await client.aclose()


async def test_drain_finishes_requests_already_read(
    dispatcher: Any, wire: Any, autojump_clock: trio.testing.MockClock
) -> None:
    conn, client = _connection(dispatcher)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        await client.send_all(wire.frame(b"echo 500 a") + wire.frame(b"none 100 b"))
        await trio.sleep(0.05)
        conn.drain()
        assert await wire.read_frames(client, 2) == [b"re:a"]  # then end of stream
    assert conn.close_reason == "drained"


async def test_ordered_sections_run_in_request_order() -> None:
    from broker.server.context import RequestContext, Turnstile

    turnstile = Turnstile()
    order: list[int] = []

    async def request(seq: int, delay: float, uses_section: bool) -> None:
        ctx = RequestContext(ConnectionInfo(1, "p", "L"), None, seq, 0.0, 0, turnstile)
        await trio.sleep(delay)
        try:
            if uses_section:
                async with ctx.ordered():
                    order.append(seq)
        finally:
            turnstile.release(seq)

    async with trio.open_nursery() as nursery:
        # Later requests become ready first; request 2 never enters the section.
        nursery.start_soon(request, 0, 0.03, True)
        nursery.start_soon(request, 1, 0.02, True)
        nursery.start_soon(request, 2, 0.01, False)
        nursery.start_soon(request, 3, 0.0, True)
    assert order == [0, 1, 3]


class _CountingStream(trio.abc.HalfCloseableStream):
    """Counts the sends of the wrapped stream."""

    def __init__(self, inner: trio.abc.HalfCloseableStream) -> None:
        self.inner = inner
        self.sends = 0

    async def send_all(self, data: Any) -> None:
        self.sends += 1
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_answers_to_requests_received_together_leave_together(
    dispatcher: Any, wire: Any
) -> None:
    client, server = trio.testing.memory_stream_pair()
    counting = _CountingStream(server)
    conn = Connection(
        counting, ConnectionInfo(1, "test:1", "PLAINTEXT"), dispatcher, ConnectionLimits()
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        await client.send_all(b"".join(wire.frame(f"echo 0 r{i}".encode()) for i in range(8)))
        responses = await wire.read_frames(client, 8)
        await client.aclose()
    assert responses == [f"re:r{i}".encode() for i in range(8)]
    assert counting.sends <= 2, f"{counting.sends} sends for 8 requests read at once"


def _socket_connection(dispatcher: Any) -> tuple[Connection, trio.SocketStream]:
    """A connection over a real socket pair: its sends can block on a full socket buffer."""
    ours, theirs = trio.socket.socketpair()
    conn = Connection(
        trio.SocketStream(theirs),
        ConnectionInfo(1, "test:1", "PLAINTEXT"),
        dispatcher,
        ConnectionLimits(),
    )
    return conn, trio.SocketStream(ours)


async def _answer_stuck_sending(
    nursery: trio.Nursery, conn: Connection, client: trio.SocketStream, wire: Any, tag: str
) -> None:
    """Start ``conn`` and send it one request whose answer (4 MiB, alone on the connection,
    so its own task sends it) blocks on the full socket while the client does not read."""
    nursery.start_soon(conn.run)
    await client.send_all(wire.frame(f"echo 0 {tag}".encode()))
    await trio.sleep(0.2)


async def test_an_answer_sent_by_its_own_request_is_never_interleaved_with_the_next(
    dispatcher: Any, wire: Any
) -> None:
    # The next request's answer, ready while the first is still being sent, must wait for it
    # instead of cutting in.
    conn, client = _socket_connection(dispatcher)
    big = "b" * (4 << 20)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await _answer_stuck_sending(nursery, conn, client, wire, big)
            await client.send_all(wire.frame(b"echo 0 second"))
            await trio.sleep(0.2)
            assert "second" in dispatcher.finished
            responses = await wire.read_frames(client, 2)
            await client.aclose()
    assert responses == [f"re:{big}".encode(), b"re:second"]


async def test_draining_waits_for_an_answer_its_request_is_still_sending(
    dispatcher: Any, wire: Any
) -> None:
    conn, client = _socket_connection(dispatcher)
    big = "d" * (4 << 20)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await _answer_stuck_sending(nursery, conn, client, wire, big)
            conn.drain()
            responses = await wire.read_frames(client, 2)
            assert await client.receive_some(10) == b""
    assert responses == [f"re:{big}".encode()]
    assert conn.close_reason == "drained"
