"""BrokerServer over real loopback sockets, with the fake wire format."""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from typing import Any

import trio

from broker.config import Listener
from broker.metrics import Metrics
from broker.server.connection import ConnectionLimits
from broker.server.context import RequestContext
from broker.server.server import BrokerServer
from broker.storage.log import FileSlice


def _server(dispatcher: Any, limits: ConnectionLimits | None = None, **kwargs: Any) -> BrokerServer:
    return BrokerServer(
        [Listener("PLAINTEXT", "127.0.0.1", 0)],
        dispatcher,
        limits or ConnectionLimits(),
        **kwargs,
    )


async def _connect(server: BrokerServer) -> trio.SocketStream:
    return await trio.open_tcp_stream("127.0.0.1", server.bound[0].port)


async def test_oversized_frame_closes_only_that_connection(dispatcher: Any, wire: Any) -> None:
    metrics = Metrics()
    server = _server(dispatcher, ConnectionLimits(max_frame_size=1024), metrics=metrics.server)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        good = await _connect(server)
        bad = await _connect(server)
        await good.send_all(wire.frame(b"echo 0 before"))
        assert await wire.read_frames(good, 1) == [b"re:before"]
        await bad.send_all(struct.pack(">i", 10_000_000))
        with trio.fail_after(5):
            assert await bad.receive_some(10) == b""
        await good.send_all(wire.frame(b"echo 0 after"))
        assert await wire.read_frames(good, 1) == [b"re:after"]
        assert len(server.connections) == 1
        await good.aclose()
        server.request_shutdown()
    assert metrics.registry.get_sample_value(
        "rillet_server_connections_closed_total", {"reason": "oversized"}
    ) == 1


async def test_a_long_poll_on_one_connection_does_not_delay_another(
    dispatcher: Any, wire: Any
) -> None:
    server = _server(dispatcher)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        slow = await _connect(server)
        fast = await _connect(server)
        await slow.send_all(wire.frame(b"wait 0 poll"))
        with trio.fail_after(2):
            for i in range(20):
                await fast.send_all(wire.frame(f"echo 0 f{i}".encode()))
                assert await wire.read_frames(fast, 1) == [f"re:f{i}".encode()]
        dispatcher.release.set()
        assert await wire.read_frames(slow, 1) == [b"re:poll"]
        server.request_shutdown()


async def test_many_chunks_leave_intact_through_vectored_sends() -> None:
    pieces = [bytes([i % 251]) * (i % 7 + 1) for i in range(3000)]
    body = b"".join(pieces)

    class ManyChunks:
        def decode(self, frame: memoryview) -> bytes:
            return bytes(frame)

        async def handle(self, ctx: RequestContext, request: bytes) -> Sequence[bytes]:
            return [struct.pack(">i", len(body)), *pieces]

    server = _server(ManyChunks())
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        client = await _connect(server)
        for _ in range(3):
            await client.send_all(struct.pack(">i", 1) + b"x")
        received = bytearray()
        expected = (struct.pack(">i", len(body)) + body) * 3
        with trio.fail_after(5):
            while len(received) < len(expected):
                received += await client.receive_some(1 << 16)
        assert bytes(received) == expected
        server.request_shutdown()


async def test_shutdown_stops_accepting_and_finishes_requests_in_flight(
    dispatcher: Any, wire: Any
) -> None:
    server = _server(dispatcher, grace_period=5.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        port = server.bound[0].port
        client = await _connect(server)
        await client.send_all(wire.frame(b"echo 300 inflight"))
        await trio.sleep(0.05)
        server.request_shutdown()
        with trio.fail_after(5):
            assert await wire.read_frames(client, 2) == [b"re:inflight"]
        await server.wait_stopped()
    try:
        await trio.open_tcp_stream("127.0.0.1", port)
    except OSError:
        refused = True
    else:
        refused = False
    assert refused


async def test_shutdown_gives_up_on_requests_past_the_grace_period(
    dispatcher: Any, wire: Any
) -> None:
    server = _server(dispatcher, grace_period=0.2)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        client = await _connect(server)
        await client.send_all(wire.frame(b"wait 0 stuck"))
        await trio.sleep(0.05)
        start = trio.current_time()
        server.request_shutdown()
        await server.wait_stopped()
        assert trio.current_time() - start < 2
        with trio.fail_after(2):
            assert await client.receive_some(10) == b""


async def test_file_slices_go_out_with_sendfile_between_buffers(tmp_path: Any) -> None:
    """Responses mixing buffers and file slices (a Fetch's batches) arrive byte-exact and in
    order, even when the slices are far larger than the socket buffer (partial sendfiles)."""
    data = os.urandom(3 << 20)
    path = tmp_path / "segment"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    cuts = [(0, 1 << 20), (1 << 20, 5), (2 << 20, 1 << 20)]

    class Slices:
        def decode(self, frame: memoryview) -> bytes:
            return bytes(frame)

        async def handle(self, ctx: RequestContext, request: bytes) -> Sequence[Any]:
            out: list[Any] = [struct.pack(">i", 3 + sum(n for _, n in cuts)), b"abc"]
            for start, n in cuts:
                out.append(FileSlice(os.dup(fd), start, n))
            return out

    expected_body = b"abc" + b"".join(data[s : s + n] for s, n in cuts)
    server = _server(Slices())
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        client = await _connect(server)
        for _ in range(2):
            await client.send_all(struct.pack(">i", 1) + b"x")
        received = bytearray()
        expected = (struct.pack(">i", len(expected_body)) + expected_body) * 2
        with trio.fail_after(10):
            while len(received) < len(expected):
                received += await client.receive_some(1 << 16)
                await trio.sleep(0)  # a slow reader: the sender sees EAGAIN
        assert bytes(received) == expected
        server.request_shutdown()
    os.close(fd)


async def test_a_file_slice_shorter_than_promised_closes_the_connection(tmp_path: Any) -> None:
    """A segment truncated under a pending response cannot be sent as promised: the stream is
    cut (the client sees a closed connection and retries), never padded with other bytes."""
    path = tmp_path / "segment"
    path.write_bytes(b"y" * 1000)
    fd = os.open(path, os.O_RDONLY)

    class Short:
        def decode(self, frame: memoryview) -> bytes:
            return bytes(frame)

        async def handle(self, ctx: RequestContext, request: bytes) -> Sequence[Any]:
            return [struct.pack(">i", 5000), FileSlice(os.dup(fd), 0, 5000)]

    server = _server(Short())
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        client = await _connect(server)
        await client.send_all(struct.pack(">i", 1) + b"x")
        received = bytearray()
        with trio.fail_after(5):
            while chunk := await client.receive_some(1 << 16):
                received += chunk
        assert len(received) < 5004  # the connection closed before a whole frame came
        server.request_shutdown()
    os.close(fd)


async def test_large_requests_received_into_their_own_buffers_arrive_intact() -> None:
    """Large frames are received straight into a buffer of their size; mixed with small ones,
    pipelined and sent in odd pieces, each must reach the handler byte-exact and writable."""
    bodies = [os.urandom(1 << 20), b"tiny", os.urandom(300_001), b"", os.urandom(70_000)] * 2
    seen: list[bytes] = []

    class Recorder:
        def decode(self, frame: memoryview) -> bytes:
            assert not frame.readonly
            return bytes(frame)

        async def handle(self, ctx: RequestContext, request: bytes) -> Sequence[bytes]:
            seen.append(request)
            return [struct.pack(">ii", 4, len(request))]

    server = _server(Recorder())
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        client = await _connect(server)
        wire = b"".join(struct.pack(">i", len(b)) + b for b in bodies)
        step = 65_537
        for start in range(0, len(wire), step):
            await client.send_all(wire[start : start + step])
        expected = b"".join(struct.pack(">ii", 4, len(b)) for b in bodies)
        received = bytearray()
        with trio.fail_after(10):
            while len(received) < len(expected):
                received += await client.receive_some(1 << 16)
        assert bytes(received) == expected
        assert seen == bodies
        server.request_shutdown()
