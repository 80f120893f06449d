"""Start a Rillet broker process for a benchmark: free loopback port, temporary data dir.

``local_broker(settings)`` is the context manager the single-purpose benchmarks use (it
yields the bootstrap address); :class:`BrokerProcess` is the same with the process id and
the data directory exposed, for the suite's CPU and disk accounting.  :class:`LocalCluster`
starts etcd and three such brokers keeping their metadata in it, for the replicated workloads.
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from client.protocol import ApiKey

from bench.kafka_raw import request_once

ROOT = Path(__file__).resolve().parents[1]


_FIRST_PORT = 10_000  # below: ports other services on a test machine are likelier to use


def ephemeral_ports(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> range:
    """The ports the kernel gives the local end of outgoing connections."""
    try:
        with open(path) as ports:
            low, high = (int(part) for part in ports.read().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    return range(low, high + 1)


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now, outside the ephemeral range.

    A port the kernel picked (bind to port 0) comes from the range it also hands to every
    outgoing connection: between this check and the broker's bind, some client's connect()
    could take it, and the broker would fail to start with EADDRINUSE.
    """
    taken = ephemeral_ports()
    candidates = [p for p in range(_FIRST_PORT, 65536) if p not in taken]
    for port in random.sample(candidates, min(200, len(candidates))):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # everything outside the range is in use: any free port
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a server's log file, or nothing if there is none."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_for_port(port: int, process: subprocess.Popen, what: str, log: Path,
                  timeout: float = 30) -> None:
    """Return once 127.0.0.1:``port`` accepts connections; raise if ``process`` died first.

    The error names the last line of the server's ``log`` first (the reason, usually), then
    the tail of the log.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_tail(log)
                last = tail.splitlines()[-1] if tail else "no output"
                raise RuntimeError(f"{what} did not start listening on {port}: {last}\n{tail}")
            time.sleep(0.05)


def start_server(args: list[str], log: Path, **popen: object) -> subprocess.Popen:
    """Start a server with stdout and stderr going to ``log`` (a pipe nobody reads would
    fill up and stall the server)."""
    with open(log, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, **popen)


def stop_process(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class BrokerProcess:
    """A ``rillet broker start`` process with the default config and ``settings`` on top.

    With ``profile_to``, the broker runs under cProfile and writes its profile there when it
    stops.
    """

    def __init__(self, settings: dict[str, str] | None = None, data_root: str | None = None,
                 profile_to: str | None = None):
        self.settings = dict(settings or {})
        self.profile_to = profile_to
        self.data = Path(tempfile.mkdtemp(prefix="rillet-bench-", dir=data_root))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        """The broker's output (deleted with its data directory)."""
        return self.data / "broker.out"

    @property
    def bootstrap(self) -> str:
        """host:port to give clients."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The broker's process id (it runs in one process)."""
        assert self.process is not None, "broker not started"
        return self.process.pid

    def start(self) -> None:
        """Start the process and wait until it accepts connections."""
        profiler = ["-m", "cProfile", "-o", self.profile_to] if self.profile_to else []
        args = [
            sys.executable, *profiler, "-m", "broker.cli", "broker", "start",
            "--config", str(ROOT / "configs" / "broker.toml"),
            "--set", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "--set", f"log.dirs={self.data / 'logs'}",
            "--set", "metrics.listener=",
        ]
        for key, value in self.settings.items():
            args += ["--set", f"{key}={value}"]
        self.process = start_server(args, self.log, cwd=ROOT)
        wait_for_port(self.port, self.process, "broker", self.log)

    def stop(self) -> None:
        """Stop the process and delete its data."""
        if self.process is not None:
            stop_process(self.process)
        shutil.rmtree(self.data, ignore_errors=True)

    def __enter__(self) -> BrokerProcess:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def local_broker(settings: dict[str, str] | None = None) -> Iterator[str]:
    """Start ``rillet broker start`` with the default config on a free port; yield bootstrap."""
    with BrokerProcess(settings) as broker:
        yield broker.bootstrap


class EtcdServer:
    """A single-member etcd on free loopback ports with a temporary data directory."""

    def __init__(self, data_root: str | None = None) -> None:
        self.data = Path(tempfile.mkdtemp(prefix="rillet-bench-etcd-", dir=data_root))
        self.client_port = free_port()
        self.peer_port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        """host:port of the client listener."""
        return f"127.0.0.1:{self.client_port}"

    @property
    def pid(self) -> int:
        """The etcd process id."""
        assert self.process is not None, "etcd not started"
        return self.process.pid

    def start(self) -> None:
        """Start the member and wait until its client port accepts connections."""
        binary = shutil.which("etcd")
        if binary is None:
            raise FileNotFoundError("etcd is not installed (Debian package etcd-server)")
        client, peer = f"http://{self.endpoint}", f"http://127.0.0.1:{self.peer_port}"
        args = [
            binary, "--name", "bench", "--data-dir", str(self.data / "member"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"bench={peer}", "--log-level", "warn",
        ]
        log = self.data / "etcd.out"
        self.process = start_server(args, log)
        wait_for_port(self.client_port, self.process, "etcd", log)

    def stop(self) -> None:
        """Stop the member and delete its data."""
        if self.process is not None:
            stop_process(self.process)
        shutil.rmtree(self.data, ignore_errors=True)


class LocalCluster:
    """etcd and ``size`` brokers (node ids 1..size) on this machine, metadata in etcd.

    Every broker runs the default config (durable: acks=all waits for group-committed fsyncs
    on the leader and the followers it counts) plus ``settings``.
    """

    def __init__(self, size: int = 3, settings: dict[str, str] | None = None,
                 data_root: str | None = None) -> None:
        self.etcd = EtcdServer(data_root)
        url = f"etcd://{self.etcd.endpoint}/bench-{uuid.uuid4().hex[:8]}"
        self.brokers = [
            BrokerProcess({**(settings or {}), "node.id": str(node), "metadata.store": url},
                          data_root=data_root)
            for node in range(1, size + 1)
        ]

    @property
    def bootstrap(self) -> str:
        """Every broker's host:port, comma-separated."""
        return ",".join(broker.bootstrap for broker in self.brokers)

    @property
    def pids(self) -> dict[str, int]:
        """Process ids by role, for CPU accounting."""
        return {"etcd": self.etcd.pid,
                **{f"broker {n}": b.pid for n, b in enumerate(self.brokers, start=1)}}

    def start(self) -> None:
        """Start etcd, then every broker; return once they all see each other."""
        self.etcd.start()
        for broker in self.brokers:
            broker.start()
        self.wait_members()

    def wait_members(self, timeout: float = 60.0) -> None:
        """Wait until the first broker's Metadata lists every broker.

        A broker registers in etcd after it starts listening, and later still when etcd is
        slow to fsync: a topic created before then cannot have replication factor 3.
        """
        body = {"topics": [], "allow_auto_topic_creation": False,
                "include_topic_authorized_operations": False}
        deadline = time.monotonic() + timeout
        listed: list = []
        while True:
            try:
                answer = request_once(self.brokers[0].bootstrap, ApiKey.METADATA, 12, body)
                listed = answer["brokers"]
            except OSError:
                pass
            if len(listed) >= len(self.brokers):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"after {timeout:g} s the cluster has {len(listed)} of "
                                   f"{len(self.brokers)} brokers registered")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop every broker, then etcd; delete all their data."""
        for broker in self.brokers:
            broker.stop()
        self.etcd.stop()

    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
