"""Raw Kafka load: pre-built Produce v9 requests, and Fetch v12 reads straight off the socket.

The produce side measures what the broker itself can ingest: record batches are encoded once
(``client.records.build_batch``, producer id -1 so no sequence state applies), wrapped into a
few Produce requests (distinct correlation ids, checked in order on the way back) and sent
again and again over pipelined connections (:mod:`bench.pipeline`).  Every response is
decoded and every partition's error code checked.

The fetch side reads a partition from offset 0 to a given end with Fetch v12, each connection
taking its own offset range, walking batch headers only to find the next offset and count
records.  It is how fast the broker can hand stored batches out.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from client.protocol import (
    ApiKey,
    ErrorCode,
    FrameDecoder,
    decode_response,
    encode_request,
)
from client.records import build_batch

from bench.pipeline import Outcome, Wire, run_pipelined

PRODUCE_VERSION = 9
FETCH_VERSION = 12
CLIENT_ID = "rillet-bench"
DISTINCT_REQUESTS = 16  # correlation ids cycle through this many pre-built copies
MAX_FRAME = 256 << 20
_BATCH_HEAD = struct.Struct(">qi")  # base offset, batch length
_LAST_DELTA = struct.Struct(">i")  # at byte 23 of a batch
_RECORD_COUNT = struct.Struct(">i")  # at byte 57 of a batch
_SIZE = struct.Struct(">i")


@dataclass(frozen=True)
class ProduceShape:
    """How the raw producer lays out its requests.

    ``partitions`` is the topic's partition count; each request carries one batch of
    ``batch_records`` values of ``record_size`` bytes for each of ``partitions_per_request``
    partitions, successive requests moving on through the partitions.
    """

    record_size: int = 100
    batch_records: int = 1000
    partitions: int = 1
    partitions_per_request: int = 1
    acks: int = 1

    @property
    def records_per_request(self) -> int:
        """Records in one request."""
        return self.batch_records * self.partitions_per_request


def connect(bootstrap: str) -> socket.socket:
    """A TCP connection to ``host:port`` with Nagle off."""
    host, port = bootstrap.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def produce_requests(topic: str, shape: ProduceShape, value: bytes) -> list[bytes]:
    """The pre-built Produce requests, with correlation ids 0..len-1."""
    batch = build_batch([value] * shape.batch_records, producer_id=-1, base_sequence=-1)
    groups = max(1, shape.partitions // shape.partitions_per_request)
    count = max(DISTINCT_REQUESTS, groups)
    requests = []
    for correlation in range(count):
        first = (correlation % groups) * shape.partitions_per_request
        body = {
            "transactional_id": None,
            "acks": shape.acks,
            "timeout_ms": 30_000,
            "topic_data": [{
                "name": topic,
                "partition_data": [
                    {"index": (first + i) % shape.partitions, "records": batch}
                    for i in range(shape.partitions_per_request)
                ],
            }],
        }
        requests.append(encode_request(ApiKey.PRODUCE, PRODUCE_VERSION, correlation, CLIENT_ID, body))
    return requests


def check_produce_response(correlation: int, body: dict, expected: int) -> None:
    """Raise unless the response is the expected one and every partition succeeded."""
    if correlation != expected:
        raise RuntimeError(f"response {correlation} arrived where {expected} was due")
    for topic in body["responses"]:
        for partition in topic["partition_responses"]:
            if partition["error_code"] != ErrorCode.NONE:
                name = ErrorCode(partition["error_code"]).name
                raise RuntimeError(f"partition {partition['index']}: {name}")


class ProduceReader:
    """Counts answered Produce requests on one connection, checking each response."""

    def __init__(self, requests: int, first: int = 0) -> None:
        self.decoder = FrameDecoder(MAX_FRAME)
        self.requests = requests
        self.next_correlation = first % requests

    def feed(self, data: bytes) -> int:
        """Take received bytes; the number of responses completed by them."""
        self.decoder.receive_data(data)
        done = 0
        while (frame := self.decoder.next_frame()) is not None:
            correlation, body = decode_response(ApiKey.PRODUCE, PRODUCE_VERSION, frame)
            check_produce_response(correlation, body, self.next_correlation)
            self.next_correlation = (self.next_correlation + 1) % self.requests
            done += 1
        return done


def request_once(bootstrap: str, api: ApiKey, version: int, body: dict) -> dict:
    """Send one request on a fresh connection and return the decoded response body."""
    with connect(bootstrap) as sock:
        sock.sendall(encode_request(api, version, 1, CLIENT_ID, body))
        decoder = FrameDecoder(MAX_FRAME)
        while (frame := decoder.next_frame()) is None:
            data = sock.recv(RECV_CHUNK)
            if not data:
                raise ConnectionError("broker closed the connection")
            decoder.receive_data(data)
        return decode_response(api, version, frame)[1]


RECV_CHUNK = 1 << 20


def wait_writable(bootstrap: str, topic: str, shape: ProduceShape, timeout: float = 30) -> None:
    """Send one request of every shape until all partitions accept it (leaders elected)."""
    requests = produce_requests(topic, shape, b"w" * shape.record_size)
    groups = max(1, shape.partitions // shape.partitions_per_request)
    deadline = time.monotonic() + timeout
    for request in requests[:groups]:
        while True:
            with connect(bootstrap) as sock:
                sock.sendall(request)
                decoder = FrameDecoder(MAX_FRAME)
                while (frame := decoder.next_frame()) is None:
                    data = sock.recv(RECV_CHUNK)
                    if not data:
                        raise ConnectionError("broker closed the connection")
                    decoder.receive_data(data)
            correlation, body = decode_response(ApiKey.PRODUCE, PRODUCE_VERSION, frame)
            try:
                check_produce_response(correlation, body, correlation)
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def warm_up(bootstrap: str, topic: str, shape: ProduceShape, rounds: int) -> float:
    """Send every distinct request ``rounds`` times, one at a time; the seconds it took.

    A partition's first few appends create its segment and touch its index files for the
    first time; this pays for that before a measured run.
    """
    requests = produce_requests(topic, shape, b"w" * shape.record_size)
    started = time.perf_counter()
    with connect(bootstrap) as sock:
        reader = ProduceReader(len(requests))
        for _ in range(rounds):
            for request in requests:
                sock.sendall(request)
                while not reader.feed(sock.recv(RECV_CHUNK)):
                    pass
    return time.perf_counter() - started


def produce(
    bootstrap: str,
    topic: str,
    shape: ProduceShape,
    *,
    seconds: float,
    connections: int = 4,
    window: int = 8,
    max_records: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> Outcome:
    """Drive raw Produce requests at the broker; the acknowledged records over the interval."""
    wait_writable(bootstrap, topic, shape)
    requests = produce_requests(topic, shape, bytes(range(256))[: shape.record_size].ljust(shape.record_size, b"r"))
    offsets = iter(range(connections))

    def reader(_sock: socket.socket) -> ProduceReader:
        index = next(offsets)
        return ProduceReader(len(requests), index * len(requests) // connections)

    wire = Wire(
        connect=lambda: connect(bootstrap),
        chunks=requests,
        records_per_chunk=shape.records_per_request,
        payload_per_chunk=shape.records_per_request * shape.record_size,
        reader=reader,
    )
    return run_pipelined(
        wire, connections=connections, window=window, seconds=seconds,
        max_records=max_records, progress=progress,
    )


def _recv_exactly(sock: socket.socket, view: memoryview) -> None:
    while view:
        got = sock.recv_into(view)
        if not got:
            raise ConnectionError("broker closed the connection")
        view = view[got:]


def walk_batches(records: memoryview | bytes) -> tuple[int, int]:
    """(records counted, next offset) for a run of whole batches; a cut-off tail is ignored."""
    position = 0
    end = len(records)
    count = 0
    next_offset = -1
    while position + 61 <= end:
        base, length = _BATCH_HEAD.unpack_from(records, position)
        if position + 12 + length > end:
            break
        count += _RECORD_COUNT.unpack_from(records, position + 57)[0]
        next_offset = base + _LAST_DELTA.unpack_from(records, position + 23)[0] + 1
        position += 12 + length
    return count, next_offset


def _fetch_range(
    bootstrap: str, topic: str, start: int, end: int, partition_max_bytes: int,
    counted: list[int], progress: Callable[[int], None] | None,
) -> None:
    records = payload = 0
    offset = start
    correlation = 0
    buffer = bytearray(partition_max_bytes + (1 << 20))
    with connect(bootstrap) as sock:
        while offset < end:
            body = {
                "replica_id": -1, "max_wait_ms": 500, "min_bytes": 1, "max_bytes": 64 << 20,
                "isolation_level": 0, "session_id": 0, "session_epoch": -1,
                "topics": [{"topic": topic, "partitions": [{
                    "partition": 0, "fetch_offset": offset, "partition_max_bytes": partition_max_bytes,
                }]}],
                "forgotten_topics_data": [], "rack_id": "",
            }
            correlation += 1
            sock.sendall(encode_request(ApiKey.FETCH, FETCH_VERSION, correlation, CLIENT_ID, body))
            size_view = memoryview(buffer)[:4]
            _recv_exactly(sock, size_view)
            size = _SIZE.unpack_from(buffer, 0)[0]
            if size > len(buffer):
                buffer = bytearray(size)
            frame = memoryview(buffer)[:size]
            _recv_exactly(sock, frame)
            _, response = decode_response(ApiKey.FETCH, FETCH_VERSION, frame)
            if response["error_code"]:
                raise RuntimeError(f"fetch failed: {ErrorCode(response['error_code']).name}")
            part = response["responses"][0]["partitions"][0]
            if part["error_code"]:
                raise RuntimeError(f"fetch failed: {ErrorCode(part['error_code']).name}")
            data = part["records"]
            if not data:
                raise RuntimeError(f"empty fetch at offset {offset} below {end}")
            count, next_offset = walk_batches(data)
            if next_offset <= offset:
                raise RuntimeError(f"fetch at {offset} returned no whole batch")
            records += count
            payload += len(data)
            offset = next_offset
            if progress is not None:
                progress(count)
    counted.extend((records, payload))


def fetch(
    bootstrap: str, topic: str, end_offset: int, *, connections: int = 2,
    partition_max_bytes: int = 8 << 20, progress: Callable[[float], None] | None = None,
) -> Outcome:
    """Read partition 0 of ``topic`` from 0 to ``end_offset``; records and bytes of batches.

    ``payload_bytes`` here counts whole batches as they came off the wire (headers included),
    which is what a consumer receives.
    """
    import threading

    bounds = [end_offset * i // connections for i in range(connections + 1)]
    results: list[list[int]] = [[] for _ in range(connections)]
    done = [0]
    lock = threading.Lock()

    def advance(count: int) -> None:
        with lock:
            done[0] += count
            if progress is not None:
                progress(min(1.0, done[0] / max(1, end_offset)))

    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            _fetch_range(bootstrap, topic, bounds[index], bounds[index + 1],
                         partition_max_bytes, results[index], advance)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"fetch failed: {errors[0]!r}") from errors[0]
    records = sum(r[0] for r in results)
    payload = sum(r[1] for r in results)
    return Outcome(records=records, payload_bytes=payload, seconds=elapsed)


def end_offset(bootstrap: str, topic: str, partition: int = 0) -> int:
    """The partition's latest offset (ListOffsets v1, timestamp -1)."""
    body = request_once(bootstrap, ApiKey.LIST_OFFSETS, 1, {
        "replica_id": -1,
        "topics": [{"name": topic, "partitions": [{"partition_index": partition, "timestamp": -1}]}],
    })
    result = body["topics"][0]["partitions"][0]
    if result["error_code"]:
        raise RuntimeError(f"ListOffsets: {ErrorCode(result['error_code']).name}")
    return int(result["offset"])
