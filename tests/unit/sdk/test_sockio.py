"""Socket reads and writes that skip the scheduler when the kernel is ready, over real sockets."""

from __future__ import annotations

import pytest
import trio

from client.network.sockio import receive_into, receive_some, send_some


class _Ticks:
    """Counts the scheduler passes another task gets while the test runs."""

    def __init__(self) -> None:
        self.count = 0

    async def run(self) -> None:
        while True:
            await trio.lowlevel.checkpoint()
            self.count += 1


async def test_bytes_already_there_are_read_without_yielding() -> None:
    a, b = trio.socket.socketpair()
    with a, b:
        await b.send(b"x" * 100)
        await trio.sleep(0.01)
        ticks = _Ticks()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticks.run)
            await trio.sleep(0.01)
            before = ticks.count
            assert await receive_some(a, 40) == b"x" * 40
            buffer = bytearray(100)
            assert await receive_into(a, memoryview(buffer)) == 60
            assert await send_some(a, [memoryview(b"yz")]) == 2
            assert ticks.count == before
            nursery.cancel_scope.cancel()
        assert bytes(buffer[:60]) == b"x" * 60
        assert await b.recv(10) == b"yz"


async def test_a_read_waits_for_bytes_and_sees_the_end_of_the_stream() -> None:
    a, b = trio.socket.socketpair()
    with a:
        async with trio.open_nursery() as nursery:

            async def late_writer() -> None:
                await trio.sleep(0.05)
                await b.send(b"late")
                await trio.sleep(0.05)
                b.close()

            nursery.start_soon(late_writer)
            assert await receive_some(a, 100) == b"late"
            assert await receive_into(a, memoryview(bytearray(10))) == 0
            assert await receive_some(a, 100) == b""


async def test_a_full_socket_waits_until_the_peer_reads_and_loses_nothing() -> None:
    a, b = trio.socket.socketpair()
    payload = bytes(range(256)) * 32768  # 8 MiB: far more than the socket buffers hold
    received = bytearray()
    with a, b:
        async with trio.open_nursery() as nursery:

            async def slow_reader() -> None:
                while len(received) < len(payload):
                    await trio.sleep(0.001)
                    received.extend(await b.recv(65536))

            nursery.start_soon(slow_reader)
            view = memoryview(payload)
            while view:
                view = view[await send_some(a, [view[:1_000_000], view[1_000_000:2_000_000]]):]
    assert received == payload


async def test_a_cancelled_caller_does_not_read_even_when_bytes_are_there() -> None:
    a, b = trio.socket.socketpair()
    with a, b:
        await b.send(b"kept")
        await trio.sleep(0.01)
        with trio.CancelScope() as scope:
            scope.cancel()
            await receive_some(a, 100)
            pytest.fail("receive_some ignored the cancellation")
        assert await receive_some(a, 100) == b"kept"


async def test_a_closed_socket_is_an_os_error() -> None:
    a, b = trio.socket.socketpair()
    b.close()
    a.close()
    with pytest.raises(OSError):
        await receive_some(a, 10)
    with pytest.raises(OSError):
        await send_some(a, [memoryview(b"x")])
