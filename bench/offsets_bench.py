"""A million offset commits for one group: commit rate, compaction, and load time at restart.

Run: ``python -m bench.offsets_bench`` (``--commits N`` to change the count).  Starts its own
broker (cleaner every 2 s), creates a 100-partition topic, and sends OffsetCommit v7 requests
of 100 partitions each (simple commits, generation -1) pipelined over one connection.  Then it
watches the group's ``__consumer_offsets`` partition shrink as the cleaner compacts it, and
restarts the broker twice (SIGTERM, then kill -9) to read how long loading the group took
from the broker's log line.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from client.protocol import ApiKey, FrameDecoder, decode_response, encode_request

from broker.coordinator.placement import partition_for

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 100
GROUP = "bench-group"
TOPIC = "bench-offsets"
WINDOW = 64
LOADED = re.compile(r"loaded (\d+) groups from __consumer_offsets-(\d+) \((\d+) records\) in ([0-9.]+) s")


class Broker:
    """A broker process on a free port with its own data directory."""

    def __init__(self, data: Path) -> None:
        self.data = data
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.log_path = data / "broker.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        args = [sys.executable, "-m", "broker.cli", "broker", "start",
                "--config", str(ROOT / "configs" / "broker.toml"),
                "--set", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "--set", f"log.dirs={self.data / 'logs'}", "--set", "metrics.listener=",
                "--set", "log.cleaner.backoff.ms=2000"]  # fmt: skip
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(self.log_path.read_text())

    def stop(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(120)

    def load_lines(self) -> list[tuple[int, int, int, float]]:
        return [
            (int(a), int(b), int(c), float(d))
            for a, b, c, d in LOADED.findall(self.log_path.read_text())
        ]


class Connection:
    """Pipelined requests over one socket with our codec."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.frames = FrameDecoder(1 << 30)
        self.next_id = 0

    def send(self, api_key: ApiKey, version: int, body: dict) -> int:
        self.next_id += 1
        self.sock.sendall(encode_request(api_key, version, self.next_id, "bench", body))
        return self.next_id

    def receive(self, api_key: ApiKey, version: int) -> dict:
        while True:
            frame = self.frames.next_frame()
            if frame is not None:
                return decode_response(api_key, version, frame)[1]
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("broker closed the connection")
            self.frames.receive_data(data)

    def call(self, api_key: ApiKey, version: int, body: dict) -> dict:
        self.send(api_key, version, body)
        return self.receive(api_key, version)


def commit_all(conn: Connection, commits: int) -> float:
    requests = commits // PARTITIONS
    started = time.perf_counter()
    in_flight = 0
    for i in range(requests):
        conn.send(ApiKey.OFFSET_COMMIT, 7, {
            "group_id": GROUP, "generation_id_or_member_epoch": -1, "member_id": "",
            "topics": [{"name": TOPIC, "partitions": [
                {"partition_index": p, "committed_offset": i, "committed_metadata": ""}
                for p in range(PARTITIONS)]}],
        })  # fmt: skip
        in_flight += 1
        if in_flight >= WINDOW:
            answer = conn.receive(ApiKey.OFFSET_COMMIT, 7)
            in_flight -= 1
            assert answer["topics"][0]["partitions"][0]["error_code"] == 0, answer
    while in_flight:
        conn.receive(ApiKey.OFFSET_COMMIT, 7)
        in_flight -= 1
    return time.perf_counter() - started


def partition_bytes(data: Path, index: int) -> int:
    directory = data / "logs" / f"__consumer_offsets-{index}"
    return sum(f.stat().st_size for f in directory.glob("*.log"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=1_000_000)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="rillet-offsets-"))
    broker = Broker(data)
    broker.start()
    try:
        conn = Connection(broker.port)
        conn.call(ApiKey.CREATE_TOPICS, 4, {"topics": [{"name": TOPIC, "num_partitions": PARTITIONS,
                  "replication_factor": 1}], "timeout_ms": 30000})  # fmt: skip
        found = conn.call(ApiKey.FIND_COORDINATOR, 3, {"key": GROUP, "key_type": 0})
        assert found["error_code"] == 0, found
        seconds = commit_all(conn, args.commits)
        index = partition_for(GROUP, 50)
        largest = partition_bytes(data, index)
        print(f"{args.commits:,} offset commits in {seconds:.1f} s "
              f"({args.commits / seconds:,.0f} commits/s, acks=all fsynced)")  # fmt: skip
        deadline = time.monotonic() + 120
        size = largest
        while time.monotonic() < deadline:
            time.sleep(2)
            size = partition_bytes(data, index)
            largest = max(largest, size)
            if "cleaned" in broker.log_path.read_text() and size < largest / 4:
                break
        print(f"__consumer_offsets-{index}: {largest / 1e6:,.1f} MB at most, "
              f"{size / 1e6:,.1f} MB after compaction")  # fmt: skip
        for sig in (signal.SIGTERM, signal.SIGKILL):
            before = len(broker.load_lines())
            broker.stop(sig)
            broker.start()
            Connection(broker.port).call(ApiKey.FIND_COORDINATOR, 3, {"key": GROUP, "key_type": 0})
            lines = [line for line in broker.load_lines()[before:] if line[1] == index]
            groups, _, records, load_s = lines[-1]
            name = "SIGTERM" if sig == signal.SIGTERM else "kill -9"
            print(f"restart after {name}: loaded {groups} group from {records:,} records "
                  f"in {load_s:.3f} s")  # fmt: skip
            offsets = Connection(broker.port).call(ApiKey.OFFSET_FETCH, 7, {
                "group_id": GROUP, "topics": None})  # fmt: skip
            last = {p["committed_offset"] for t in offsets["topics"] for p in t["partitions"]}
            assert last == {args.commits // PARTITIONS - 1}, last
    finally:
        if broker.process is not None and broker.process.poll() is None:
            broker.stop(signal.SIGTERM)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
