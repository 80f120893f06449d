"""Redis Streams as a peer: a redis-server process, and pipelined XADD in raw RESP.

Every XADD appends one 100-byte (by default) field value to one stream key with an
auto-generated id, the Redis equivalent of a one-partition topic.  ``appendfsync`` picks the
durability: ``None`` runs with no persistence at all (no RDB snapshots, no AOF), ``everysec``
writes an append-only file and fsyncs it once a second.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.brokers import free_port, start_server, stop_process, wait_for_port
from bench.peers.lines import LineCountReader
from bench.pipeline import Outcome, Wire, run_pipelined

STREAM = b"bench-stream"


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def xadd(key: bytes, field: bytes, value: bytes) -> bytes:
    """One ``XADD key * field value`` command in RESP."""
    return b"*5\r\n" + b"".join(_bulk(part) for part in (b"XADD", key, b"*", field, value))


class RedisServer:
    """redis-server on a free loopback port with its own directory."""

    def __init__(self, binary: str, appendfsync: str | None, data_root: str | None = None):
        self.binary = binary
        self.appendfsync = appendfsync
        self.data = Path(tempfile.mkdtemp(prefix="redis-bench-", dir=data_root))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> RedisServer:
        args = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.data), "--save", "", "--daemonize", "no",
            "--protected-mode", "no", "--logfile", "",
        ]
        if self.appendfsync:
            args += ["--appendonly", "yes", "--appendfsync", self.appendfsync]
        else:
            args += ["--appendonly", "no"]
        self.process = start_server(args, self.data / "server.out")
        try:
            wait_for_port(self.port, self.process, "redis-server", self.data / "server.out")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop_process(self.process)
        shutil.rmtree(self.data, ignore_errors=True)


def produce(port: int, *, record_size: int, per_chunk: int, seconds: float, connections: int,
            window: int, max_records: int | None = None,
            progress: Callable[[float], None] | None = None) -> Outcome:
    """Pipelined XADDs of ``record_size``-byte values to one stream."""
    value = (b"0123456789" * (record_size // 10 + 1))[:record_size]
    chunk = xadd(STREAM, b"v", value) * per_chunk

    def connect() -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    wire = Wire(
        connect=connect,
        chunks=[chunk],
        records_per_chunk=per_chunk,
        payload_per_chunk=per_chunk * record_size,
        reader=lambda _sock: LineCountReader(per_chunk, [b"\r\n-", b"-ERR"]),
    )
    return run_pipelined(wire, connections=connections, window=window, seconds=seconds,
                         max_records=max_records, progress=progress)
