"""A protocol-neutral pipelined sender: pre-built requests over several connections.

The raw load generators (Kafka Produce, Redis XADD, NATS JetStream publish) share this loop
so that every system is driven the same way: each connection has a sender thread that writes
pre-encoded chunks (one or more requests) while fewer than ``window`` chunks await their
replies, and a receiver thread that hands whatever arrives to the protocol's
:class:`ChunkReader`, which says how many chunks are now fully acknowledged and raises on any
error reply.  The client does no per-record work, so the figure is the server's.

Threads, not processes: ``sendall`` and ``recv`` release the GIL, and the Python work per
chunk (one reply parse) is small next to the server's work for the same chunk.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

RECV_SIZE = 1 << 20


class ChunkReader(Protocol):
    """Parses one connection's reply stream."""

    def feed(self, data: bytes) -> int:
        """Take the next bytes received; return how many more chunks are fully answered.

        Raises on an error reply.
        """
        ...


@dataclass
class Wire:
    """What the sender needs from a protocol.

    ``connect`` opens a connection ready for requests (handshake done).  ``chunks`` are sent
    in turn, over and over; each holds ``records_per_chunk`` records whose values add up to
    ``payload_per_chunk`` bytes.  ``reader`` makes a fresh reply parser for one connection;
    it is given the socket, for protocols whose server may ask something back (a ping).
    """

    connect: Callable[[], socket.socket]
    chunks: Sequence[bytes]
    records_per_chunk: int
    payload_per_chunk: int
    reader: Callable[[socket.socket], ChunkReader]


@dataclass
class Outcome:
    """Acknowledged records and payload bytes over the measured seconds."""

    records: int
    payload_bytes: int
    seconds: float


class _Connection:
    def __init__(self, wire: Wire, window: int, stop: threading.Event) -> None:
        self.wire = wire
        self.sock = wire.connect()
        self.reader = wire.reader(self.sock)
        self.credits = threading.Semaphore(window)
        self.stop = stop
        self.sent = 0
        self.acked = 0
        self.last_ack = 0.0
        self.error: BaseException | None = None
        self.sender_done = threading.Event()
        self.receiver_done = threading.Event()

    def send_loop(self, offset: int) -> None:
        chunks = self.wire.chunks
        count = len(chunks)
        sendall = self.sock.sendall
        acquire = self.credits.acquire
        try:
            while not self.stop.is_set():
                if not acquire(timeout=0.2):
                    continue
                if self.stop.is_set():
                    self.credits.release()
                    break
                sendall(chunks[(self.sent + offset) % count])
                self.sent += 1
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            self.error = self.error or exc
            self.stop.set()
        finally:
            self.sender_done.set()

    def receive_loop(self) -> None:
        recv = self.sock.recv
        feed = self.reader.feed
        release = self.credits.release
        try:
            while not (self.sender_done.is_set() and self.acked >= self.sent):
                # Wake up now and then to notice that the sender stopped.
                if not select.select([self.sock], [], [], 0.2)[0]:
                    continue
                data = recv(RECV_SIZE)
                if not data:
                    raise ConnectionError("server closed the connection")
                done = feed(data)
                if done:
                    self.last_ack = time.perf_counter()
                    self.acked += done
                    for _ in range(done):
                        release()
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            self.error = self.error or exc
            self.stop.set()
        finally:
            self.receiver_done.set()


def run_pipelined(
    wire: Wire,
    *,
    connections: int,
    window: int,
    seconds: float,
    max_records: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> Outcome:
    """Drive ``wire`` for ``seconds`` (or until ``max_records``) and count what was acked.

    The interval runs from the first send to the last acknowledgement; every chunk sent is
    waited for, so nothing in flight is counted as done.
    """
    stop = threading.Event()
    conns = [_Connection(wire, window, stop) for _ in range(connections)]
    threads = []
    for conn in conns:
        conn.sock.settimeout(None)
    started = time.perf_counter()
    for index, conn in enumerate(conns):
        offset = index * len(wire.chunks) // connections
        threads.append(threading.Thread(target=conn.send_loop, args=(offset,), daemon=True))
        threads.append(threading.Thread(target=conn.receive_loop, daemon=True))
    for thread in threads:
        thread.start()
    deadline = started + seconds
    while not stop.is_set():
        now = time.perf_counter()
        if now >= deadline:
            break
        acked_records = sum(c.acked for c in conns) * wire.records_per_chunk
        if max_records is not None and acked_records >= max_records:
            break
        if progress is not None:
            progress(min(1.0, (now - started) / seconds))
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(60)
    for conn in conns:
        conn.sock.close()
    errors = [c.error for c in conns if c.error is not None]
    if errors:
        raise RuntimeError(f"pipelined sender failed: {errors[0]!r}") from errors[0]
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError("replies still missing 60 s after the last request")
    chunks = sum(c.acked for c in conns)
    if chunks == 0:
        raise RuntimeError("no request was acknowledged")
    elapsed = max(c.last_ack for c in conns) - started
    return Outcome(
        records=chunks * wire.records_per_chunk,
        payload_bytes=chunks * wire.payload_per_chunk,
        seconds=elapsed,
    )
