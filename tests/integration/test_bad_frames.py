"""Malformed input closes only its own connection; other clients and stored data are unharmed."""

from __future__ import annotations

import random
import socket
import struct
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from harness.broker import BrokerProcess


def closed_by_peer(sock: socket.socket, timeout: float = 10.0) -> bool:
    """True once the broker closed ``sock`` (EOF or reset) within ``timeout``."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def request_frame(api_key: int, version: int, body: bytes, correlation_id: int = 1) -> bytes:
    """A size-prefixed request with header v1 (client id "bad") and ``body``."""
    header = struct.pack(">hhih", api_key, version, correlation_id, 3) + b"bad"
    return struct.pack(">i", len(header) + len(body)) + header + body


BAD_INPUTS = {
    "garbage": lambda rng: bytes(rng.getrandbits(8) for _ in range(4096)),
    "huge_declared_size": lambda rng: struct.pack(">i", 2**31 - 1) + b"\0" * 64,
    "negative_size": lambda rng: struct.pack(">i", -5) + b"\0" * 64,
    # Metadata v1 whose topic array claims 2**31-1 entries
    "huge_array": lambda rng: request_frame(3, 1, struct.pack(">i", 2**31 - 1)),
    # Produce v3 with a transactional id that claims 32767 bytes and a records blob of 2 GiB
    "huge_string": lambda rng: request_frame(0, 3, struct.pack(">h", 32767) + b"x" * 10),
    "huge_bytes": lambda rng: request_frame(
        0, 3, struct.pack(">hhii", -1, 1, 1000, 1) + struct.pack(">h", 1) + b"t"
        + struct.pack(">iii", 1, 0, 2**31 - 1),
    ),
    "unknown_api": lambda rng: request_frame(999, 0, b""),
    "body_garbage": lambda rng: request_frame(3, 9, bytes(rng.getrandbits(8) for _ in range(300))),
}


def test_malformed_frames_close_only_their_connection(broker: BrokerProcess, topic_name):
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    producer.produce(topic_name, b"before")
    assert producer.flush(15) == 0

    rss_before = broker.rss_bytes()
    rng = random.Random(7)
    bystander = socket.create_connection(("127.0.0.1", broker.port))
    for name, make in BAD_INPUTS.items():
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", broker.port)) as sock:
                sock.sendall(make(rng))
                if name in ("huge_declared_size", "garbage"):
                    assert closed_by_peer(sock), name
                else:
                    # an error answer is allowed, but the connection must not hang the broker
                    sock.settimeout(10)
                    try:
                        sock.recv(65536)
                    except (TimeoutError, ConnectionResetError):
                        pass
    # a truncated frame then a close mid-frame
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", broker.port)) as sock:
            sock.sendall(struct.pack(">i", 1000) + b"partial")
    # the bystander's own connection still answers an ApiVersions v0 request
    bystander.sendall(request_frame(18, 0, b"", correlation_id=77))
    bystander.settimeout(10)
    size = struct.unpack(">i", bystander.recv(4))[0]
    answer = b""
    while len(answer) < size:
        answer += bystander.recv(size - len(answer))
    assert struct.unpack(">ih", answer[:6]) == (77, 0)
    bystander.close()

    producer.produce(topic_name, b"after")
    assert producer.flush(15) == 0
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "bad-frames"})
    consumer.assign([TopicPartition(topic_name, 0, 0)])
    values = []
    deadline = time.monotonic() + 20
    while len(values) < 2 and time.monotonic() < deadline:
        values += [m.value() for m in consumer.consume(10, timeout=0.5) if m.error() is None]
    consumer.close()
    assert values == [b"before", b"after"]
    assert broker.rss_bytes() - rss_before < 64 * 1024 * 1024
