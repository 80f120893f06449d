"""NATS JetStream as a peer: a nats-server process, and pipelined publishes in the raw protocol.

A stream with file storage takes one subject; each ``PUB`` names a reply subject that the
connection subscribes to, so JetStream's acknowledgement of every stored message (a small JSON
``PubAck``) comes back on the same connection and is counted.  JetStream's file store writes
each message before acknowledging it and fsyncs on its own timer (``sync_interval``, two
minutes by default), so this compares with acks=1 on a page-cache broker, not with fsync per
write.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.brokers import free_port, start_server, stop_process, wait_for_port
from bench.peers.lines import LineCountReader
from bench.pipeline import Outcome, Wire, run_pipelined

STREAM = "BENCH"
SUBJECT = b"bench.records"
INBOX = b"_INBOX.bench-acks"


class NatsServer:
    """nats-server with JetStream on a free loopback port with its own store directory."""

    def __init__(self, binary: str, data_root: str | None = None):
        self.binary = binary
        self.data = Path(tempfile.mkdtemp(prefix="nats-bench-", dir=data_root))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> NatsServer:
        args = [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "--jetstream",
                "--store_dir", str(self.data)]
        self.process = start_server(args, self.data / "server.out")
        try:
            wait_for_port(self.port, self.process, "nats-server", self.data / "server.out")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop_process(self.process)
        shutil.rmtree(self.data, ignore_errors=True)


def _read_until(sock: socket.socket, marker: bytes, limit: int = 1 << 20) -> bytes:
    data = b""
    while marker not in data:
        more = sock.recv(65536)
        if not more:
            raise ConnectionError("nats-server closed the connection")
        data += more
        if len(data) > limit:
            raise RuntimeError(f"no {marker!r} from nats-server")
    return data


def connect(port: int) -> socket.socket:
    """A connection past the INFO/CONNECT handshake, subscribed to the ack inbox."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _read_until(sock, b"\r\n")  # INFO {...}
    options = {"verbose": False, "pedantic": False, "headers": False, "echo": False,
               "lang": "python", "version": "bench", "protocol": 1}
    sock.sendall(b"CONNECT " + json.dumps(options).encode() + b"\r\n"
                 + b"SUB " + INBOX + b" 1\r\nPING\r\n")
    reply = _read_until(sock, b"PONG\r\n")
    if b"-ERR" in reply:
        raise RuntimeError(f"nats-server refused the connection: {reply!r}")
    return sock


def create_stream(port: int) -> None:
    """Create the file-storage stream that takes :data:`SUBJECT`."""
    config = {"name": STREAM, "subjects": [SUBJECT.decode()], "storage": "file",
              "retention": "limits", "discard": "old", "num_replicas": 1}
    payload = json.dumps(config).encode()
    with connect(port) as sock:
        sock.sendall(b"PUB $JS.API.STREAM.CREATE.%s %s %d\r\n%s\r\n"
                     % (STREAM.encode(), INBOX, len(payload), payload))
        reply = _read_until(sock, b"}\r\n")
    if b'"error"' in reply:
        raise RuntimeError(f"stream create failed: {reply!r}")


def produce(port: int, *, record_size: int, per_chunk: int, seconds: float, connections: int,
            window: int, max_records: int | None = None,
            progress: Callable[[float], None] | None = None) -> Outcome:
    """Pipelined JetStream publishes of ``record_size``-byte payloads, every ack counted.

    The stream must exist (:func:`create_stream`).
    """
    value = (b"0123456789" * (record_size // 10 + 1))[:record_size]
    chunk = (b"PUB %s %s %d\r\n%s\r\n" % (SUBJECT, INBOX, record_size, value)) * per_chunk
    wire = Wire(
        connect=lambda: connect(port),
        chunks=[chunk],
        records_per_chunk=per_chunk,
        payload_per_chunk=per_chunk * record_size,
        reader=lambda sock: LineCountReader(
            per_chunk, [b'"error"', b"-ERR"], sock, ping=b"PING\r\n", pong=b"PONG\r\n"),
    )
    return run_pipelined(wire, connections=connections, window=window, seconds=seconds,
                         max_records=max_records, progress=progress)
