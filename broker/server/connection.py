"""One client connection: read frames, run requests concurrently, answer in request order.

The connection's nursery holds the read loop (the connection task itself), one writer, one
idle watch and one task per request. Each request gets a sequence number when its frame
arrives; finished responses wait in a reorder buffer until every earlier one has been written,
then consecutive ready responses leave in one vectored send (the writer first lets requests
already received catch up, briefly, so their responses share it). A request alone on its
connection, with nothing more read, sends its own response instead of handing it to the
writer. A handler returning None (acks=0 produce) takes its turn without writing anything.

Limits:
  * a size prefix above `max_frame_size` closes the connection before the body is read;
  * while the bytes of requests in flight plus responses not yet written exceed
    `max_queued_bytes` (or too many requests are in flight), the read loop stops reading, so a
    pipelining client is slowed by TCP instead of filling memory; one request is always
    admitted, however large, so progress is guaranteed; each request runs to its first wait
    before the next frame is taken, so an answer ready at once counts before more are read;
  * with nothing in flight and no bytes moving for `idle_timeout` seconds, the connection
    closes.

Closing for a protocol or handler failure writes one log line and touches nothing outside
this connection.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import trio

from broker.config import BrokerConfig
from broker.metrics import ServerMetrics
from broker.server.context import ConnectionInfo, RequestContext, Turnstile
from broker.server.dispatch import Buffer, Dispatcher
from broker.server.framing import PREFIX, FrameBuffer, OversizedFrame
from client.network.sockio import receive_into, receive_some
from client.network.vectored import chunk_size, send_vectored

log = logging.getLogger("rillet.server")

# Scheduler ticks a ready response may wait for the responses of frames already received.
COALESCE_TICKS = 16
# Upper bound of one receive; larger frames arrive over several (recv allocates this much).
MAX_RECEIVE = 256 * 1024

_connection_ids = itertools.count(1)


def next_connection_id() -> int:
    """A process-unique connection id."""
    return next(_connection_ids)


@dataclass(frozen=True)
class ConnectionLimits:
    """Per-connection limits; sizes in bytes, times in seconds."""

    max_frame_size: int = 104857600
    idle_timeout: float = 600.0
    max_queued_bytes: int = 33554432
    max_in_flight: int = 1024
    receive_size: int = 65536

    @classmethod
    def from_config(cls, config: BrokerConfig) -> ConnectionLimits:
        """The limits a broker config asks for."""
        return cls(
            max_frame_size=config.socket_request_max_bytes,
            idle_timeout=config.connections_max_idle_ms / 1000,
            max_queued_bytes=config.queued_max_request_bytes,
        )


class ConnectionStatistics(NamedTuple):
    """A snapshot of one connection's queues."""

    in_flight: int
    queued_bytes: int
    peak_queued_bytes: int
    requests: int


class Connection:
    """Serves one client stream until it ends, fails, idles out or is drained."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        info: ConnectionInfo,
        dispatcher: Dispatcher,
        limits: ConnectionLimits,
        metrics: ServerMetrics | None = None,
        services: Any = None,
    ) -> None:
        self.info = info
        self.close_reason: str | None = None
        self._stream = stream
        self._dispatcher = dispatcher
        self._limits = limits
        self._metrics = metrics
        self._services = services
        self._frames = FrameBuffer(limits.max_frame_size)
        # A large frame's bytes are received straight into its buffer when the stream is a
        # socket (``FrameBuffer.receive_buffer``).
        self._socket = stream.socket if isinstance(stream, trio.SocketStream) else None
        self._turnstile = Turnstile()
        self._next_seq = 0  # given to the next request read
        self._entered = 0  # requests whose handler has started running
        self._send_seq = 0  # the next response to write
        self._sending = False
        self._ready: dict[int, Sequence[Buffer] | None] = {}
        self._held: dict[int, int] = {}  # bytes each unanswered request holds in the queue
        self._queued = 0
        self._peak_queued = 0
        self._wake_writer = trio.lowlevel.ParkingLot()
        self._wake_reader = trio.lowlevel.ParkingLot()
        self._draining = False
        self._reader_scope = trio.CancelScope()
        self._idle_scope = trio.CancelScope()
        self._nursery: trio.Nursery | None = None
        self._last_activity = 0.0

    def statistics(self) -> ConnectionStatistics:
        """Queue sizes now, and the most bytes ever queued."""
        return ConnectionStatistics(
            self._in_flight(), self._queued, self._peak_queued, self._next_seq
        )

    def drain(self) -> None:
        """Stop reading; finish and write the requests already read; then close."""
        self._draining = True
        self._reader_scope.cancel()
        self._idle_scope.cancel()
        self._wake_writer.unpark_all()

    async def run(self) -> None:
        """Serve the connection until it closes; never raises except on cancellation."""
        self._last_activity = trio.current_time()
        if self._metrics is not None:
            self._metrics.connection_opened()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._write_loop)
                nursery.start_soon(self._watch_idle)
                with self._reader_scope:
                    await self._read_loop(nursery)
                if self._reader_scope.cancelled_caught and self.close_reason is None:
                    self.close_reason = "drained"
        finally:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(self._stream)
            if self._metrics is not None:
                self._metrics.connection_closed(self.close_reason or "closed")

    def _close(self, reason: str, message: str | None = None) -> None:
        if self.close_reason is None:
            self.close_reason = reason
            if message is not None:
                log.warning(
                    "closing connection %d from %s: %s", self.info.id, self.info.peer, message
                )
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()

    def _in_flight(self) -> int:
        return self._next_seq - self._send_seq + (1 if self._sending else 0)

    async def _read_loop(self, nursery: trio.Nursery) -> None:
        limits = self._limits
        while True:
            while self._in_flight() and (
                self._queued >= limits.max_queued_bytes
                or self._in_flight() >= limits.max_in_flight
            ):
                await self._wake_reader.park()
            try:
                frame = self._frames.next_frame()
            except OversizedFrame as exc:
                self._close("oversized", str(exc))
                return
            if frame is None:
                if not await self._receive():
                    return
                continue
            try:
                request = self._dispatcher.decode(frame)
            except Exception as exc:
                head = bytes(frame[:64]).hex()
                self._close("malformed", f"malformed request: {exc} (first bytes: {head})")
                return
            seq = self._next_seq
            self._next_seq += 1
            held = len(frame) + PREFIX
            self._held[seq] = held
            self._add_queued(held)
            nursery.start_soon(self._run_request, seq, request, held, trio.current_time())
            # Let the request run to its first wait before taking the next frame: one that
            # answers at once (a fetch of data already there) has then added its response to
            # the queued bytes, so small requests already buffered cannot slip past the bound.
            while self._entered <= seq:
                await trio.lowlevel.checkpoint()

    async def _receive(self) -> bool:
        """Read more bytes into the frame buffer; False once the connection is closing."""
        frames = self._frames
        direct = frames.receive_buffer() if self._socket is not None else None
        try:
            if direct is not None:
                assert self._socket is not None
                received = await receive_into(self._socket, direct)
            else:
                size = min(max(self._limits.receive_size, frames.wanted()), MAX_RECEIVE)
                if self._socket is not None:
                    data = await receive_some(self._socket, size)
                else:
                    data = await self._stream.receive_some(size)
                received = len(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            self._close("reset")
            return False
        if not received:
            self._close("eof")
            return False
        self._last_activity = trio.current_time()
        if self._metrics is not None:
            self._metrics.received(received)
        if direct is not None:
            frames.received_into(received)
            # A large frame can arrive faster than it is read: let other connections run
            # between its pieces.
            await trio.lowlevel.checkpoint()
        else:
            frames.receive_data(data)
        return True

    async def _watch_idle(self) -> None:
        # One sleeping task per connection instead of a deadline around every receive: a
        # cancel scope per receive cost more than the receive itself.
        idle = self._limits.idle_timeout
        with self._idle_scope:
            while True:
                deadline = self._last_activity + idle
                if self._in_flight():
                    deadline = max(deadline, trio.current_time() + idle)
                elif trio.current_time() >= deadline:
                    self._close("idle", f"idle for {idle:g} s")
                    return
                await trio.sleep_until(deadline)

    def _add_queued(self, nbytes: int) -> None:
        self._queued += nbytes
        if self._queued > self._peak_queued:
            self._peak_queued = self._queued

    async def _run_request(self, seq: int, request: Any, size: int, received_at: float) -> None:
        self._entered = seq + 1
        ctx = RequestContext(self.info, self._services, seq, received_at, size, self._turnstile)
        try:
            chunks = await self._dispatcher.handle(ctx, request)
        except Exception as exc:
            self._close("handler", f"request failed: {exc!r}")
            return
        finally:
            self._turnstile.release(seq)
        if chunks is not None:
            nbytes = sum(chunk_size(c) for c in chunks)
            self._held[seq] += nbytes
            self._add_queued(nbytes)
        self._ready[seq] = chunks
        if (
            seq == self._send_seq
            and not self._sending
            and self._next_seq == seq + 1
            and not self._frames.has_frame()
        ):
            # The only request in flight, nothing else read: no answer to wait for, so send
            # from here and spare the hand-over to the writer (a scheduler pass each way).
            await self._send_ready()
        else:
            self._wake_writer.unpark_all()

    async def _write_loop(self) -> None:
        while True:
            while self._sending or self._send_seq not in self._ready:
                if self._draining and self._send_seq == self._next_seq and not self._sending:
                    return
                await self._wake_writer.park()
            # Frames already received are usually answered within a tick or two each: while
            # some are still buffered, or answers keep arriving, give them those ticks first,
            # so that one send carries their responses too (fewer syscalls, fewer wake-ups of
            # a client that may share the machine).
            seen = -1
            for _ in range(COALESCE_TICKS):
                if self._draining or len(self._wake_reader):
                    break
                if len(self._ready) == seen and not self._frames.has_frame():
                    break
                seen = len(self._ready)
                await trio.lowlevel.checkpoint()
            if not await self._send_ready():
                return

    async def _send_ready(self) -> bool:
        """Write every consecutive ready response in one vectored send; False if it failed."""
        batch: list[Buffer] = []
        released = 0
        while self._send_seq in self._ready:
            chunks = self._ready.pop(self._send_seq)
            released += self._held.pop(self._send_seq)
            if chunks:
                batch.extend(chunks)
            self._send_seq += 1
        if batch:
            self._sending = True
            try:
                sent = await send_vectored(self._stream, batch)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._close("reset")
                return False
            finally:
                self._sending = False
            self._last_activity = trio.current_time()
            if self._metrics is not None:
                self._metrics.sent(sent)
        self._queued -= released
        self._wake_reader.unpark_all()
        if self._draining or self._send_seq in self._ready:
            self._wake_writer.unpark_all()  # it may have been waiting for this send to end
        return True
