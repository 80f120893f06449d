"""Counting two-line replies across arbitrary read boundaries."""

from __future__ import annotations

import pytest

from bench.peers.lines import LineCountReader
from bench.peers.redis_streams import xadd

REPLY = b"$15\r\n1700000000000-0\r\n"


def test_counts_whole_chunks_only() -> None:
    reader = LineCountReader(3, [b"-ERR"])
    assert reader.feed(REPLY * 2) == 0
    assert reader.feed(REPLY) == 1
    assert reader.feed(REPLY * 7) == 2
    assert reader.feed(REPLY * 2) == 1


@pytest.mark.parametrize("cut", range(1, len(REPLY) * 2))
def test_a_reply_split_anywhere_is_counted_once(cut: int) -> None:
    data = REPLY * 4
    reader = LineCountReader(2, [b"-ERR"])
    done = reader.feed(data[:cut]) + reader.feed(data[cut:])
    assert done == 2


def test_one_byte_at_a_time() -> None:
    reader = LineCountReader(1, [b"-ERR"])
    data = REPLY * 3
    assert sum(reader.feed(data[i:i + 1]) for i in range(len(data))) == 3


def test_an_error_reply_raises_even_when_split() -> None:
    reader = LineCountReader(1, [b"-ERR"])
    reader.feed(REPLY + b"-E")
    with pytest.raises(RuntimeError, match="error reply"):
        reader.feed(b"RR wrong type\r\n")


class _Sock:
    def __init__(self) -> None:
        self.sent = b""

    def sendall(self, data: bytes) -> None:
        self.sent += data


def test_a_ping_is_answered_and_not_counted() -> None:
    sock = _Sock()
    ack = b'MSG _INBOX.a 1 27\r\n{"stream":"S","seq":1234567}\r\n'
    reader = LineCountReader(2, [b'"error"'], sock, ping=b"PING\r\n", pong=b"PONG\r\n")  # type: ignore[arg-type]
    assert reader.feed(ack + b"PING\r\n" + ack) == 1
    assert sock.sent == b"PONG\r\n"


def test_xadd_is_one_resp_array_of_five_bulk_strings() -> None:
    command = xadd(b"k", b"v", b"ab\r\n")
    assert command == b"*5\r\n$4\r\nXADD\r\n$1\r\nk\r\n$1\r\n*\r\n$1\r\nv\r\n$4\r\nab\r\n\r\n"
