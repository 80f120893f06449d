"""Raw Kafka requests over a plain socket, for tests that look at the wire itself.

A ``WireClient`` encodes requests with our own codec, sends them (one at a time or many
without waiting) and decodes the responses in the order they arrive, each with a timeout.
It remembers which API and version every correlation id was sent with, so a response is
decoded with the right schema even when requests are pipelined, and a response whose
correlation id was never sent (or was sent with acks=0) fails the test.  Small builders for
the request bodies the API tests send over and over live here too.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Mapping
from typing import Any

from client.protocol import ApiKey, FrameDecoder, decode_response, encode_request

Body = dict[str, Any]
MAX_FRAME = 256 * 1024 * 1024


class WireClient:
    """One connection to a broker port: send requests, receive decoded responses."""

    def __init__(self, port: int, timeout: float = 10.0, client_id: str = "wire-test") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.timeout = timeout
        self.client_id = client_id
        self._frames = FrameDecoder(MAX_FRAME)
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[int, int]] = {}

    def send(
        self, api_key: int, version: int, body: Body, *, expect_response: bool = True
    ) -> int:
        """Send one request without waiting; returns its correlation id."""
        correlation_id = next(self._ids)
        self.sock.sendall(encode_request(api_key, version, correlation_id, self.client_id, body))
        if expect_response:
            self._pending[correlation_id] = (api_key, version)
        return correlation_id

    def send_many(self, api_key: int, version: int, bodies: list[Body]) -> list[int]:
        """Send several requests in one write, so they arrive together; their correlation ids."""
        frames = []
        ids = []
        for body in bodies:
            correlation_id = next(self._ids)
            frames.append(encode_request(api_key, version, correlation_id, self.client_id, body))
            self._pending[correlation_id] = (api_key, version)
            ids.append(correlation_id)
        self.sock.sendall(b"".join(frames))
        return ids

    def receive(self, timeout: float | None = None) -> tuple[int, Body]:
        """The next response on the connection as (correlation id, body).

        Raises TimeoutError when none arrives within ``timeout`` (default: the client's),
        ConnectionError when the broker closes the connection, and AssertionError for a
        correlation id this client is not waiting for.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            frame = self._frames.next_frame()
            if frame is not None:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no response from the broker in time")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                raise TimeoutError("no response from the broker in time") from None
            if not data:
                raise ConnectionError("the broker closed the connection")
            self._frames.receive_data(data)
        correlation_id = int.from_bytes(frame[:4], "big", signed=True)
        assert correlation_id in self._pending, f"unexpected correlation id {correlation_id}"
        api_key, version = self._pending.pop(correlation_id)
        decoded_id, body = decode_response(api_key, version, frame)
        assert decoded_id == correlation_id
        return correlation_id, body

    def request(self, api_key: int, version: int, body: Body, timeout: float | None = None) -> Body:
        """Send one request and return its response (which must be the next one)."""
        correlation_id = self.send(api_key, version, body)
        received_id, response = self.receive(timeout)
        assert received_id == correlation_id
        return response

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def produce_body(
    topic: str, records: Mapping[int, bytes | None], acks: int = -1, timeout_ms: int = 10_000
) -> Body:
    """A Produce request body: ``records`` maps partition index to its record bytes."""
    return {
        "transactional_id": None,
        "acks": acks,
        "timeout_ms": timeout_ms,
        "topic_data": [
            {
                "name": topic,
                "partition_data": [
                    {"index": index, "records": data} for index, data in records.items()
                ],
            }
        ],
    }


def produce_partitions(response: Body) -> dict[tuple[str, int], Body]:
    """A Produce response's partition entries by (topic, partition)."""
    return {
        (topic["name"], entry["index"]): entry
        for topic in response["responses"]
        for entry in topic["partition_responses"]
    }


def fetch_body(
    partitions: Mapping[tuple[str, int], int],
    *,
    max_wait_ms: int = 0,
    min_bytes: int = 1,
    max_bytes: int = 50 * 1024 * 1024,
    partition_max_bytes: int = 1024 * 1024,
    current_leader_epoch: int = -1,
) -> Body:
    """A full Fetch request body: ``partitions`` maps (topic, partition) to the fetch offset."""
    by_topic: dict[str, list[Body]] = {}
    for (topic, index), offset in partitions.items():
        by_topic.setdefault(topic, []).append(
            {
                "partition": index,
                "current_leader_epoch": current_leader_epoch,
                "fetch_offset": offset,
                "log_start_offset": -1,
                "partition_max_bytes": partition_max_bytes,
            }
        )
    return {
        "replica_id": -1,
        "max_wait_ms": max_wait_ms,
        "min_bytes": min_bytes,
        "max_bytes": max_bytes,
        "isolation_level": 0,
        "session_id": 0,
        "session_epoch": -1,
        "topics": [{"topic": name, "partitions": parts} for name, parts in by_topic.items()],
        "forgotten_topics_data": [],
        "rack_id": "",
    }


def fetch_partitions(response: Body) -> dict[tuple[str, int], Body]:
    """A Fetch response's partition entries by (topic, partition)."""
    return {
        (topic["topic"], entry["partition_index"]): entry
        for topic in response["responses"]
        for entry in topic["partitions"]
    }


def create_topic(
    client: WireClient,
    name: str,
    partitions: int = 1,
    configs: Mapping[str, str] | None = None,
    replication_factor: int = 1,
) -> Body:
    """Create a topic with CreateTopics v4; returns the topic's result entry."""
    response = client.request(
        ApiKey.CREATE_TOPICS,
        4,
        {
            "topics": [
                {
                    "name": name,
                    "num_partitions": partitions,
                    "replication_factor": replication_factor,
                    "assignments": [],
                    "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()],
                }
            ],
            "timeout_ms": 10_000,
            "validate_only": False,
        },
    )
    (result,) = response["topics"]
    return result


def init_producer_id(client: WireClient, producer_id: int = -1, epoch: int = -1) -> tuple[int, int]:
    """InitProducerId v4 without a transactional id; returns (producer id, epoch)."""
    response = client.request(
        ApiKey.INIT_PRODUCER_ID,
        4,
        {
            "transactional_id": None,
            "transaction_timeout_ms": 60_000,
            "producer_id": producer_id,
            "producer_epoch": epoch,
        },
    )
    assert response["error_code"] == 0, response
    return response["producer_id"], response["producer_epoch"]
