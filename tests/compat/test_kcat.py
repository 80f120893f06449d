"""kcat (Debian's, librdkafka 2.0) against a real Rillet broker: -L, -P, -C, compression."""

from __future__ import annotations

import subprocess

import pytest

from harness.broker import BrokerProcess


def kcat(*args: str, stdin: bytes | None = None, timeout: float = 30) -> bytes:
    """Run kcat and return its standard output; fail the test on a non-zero exit."""
    done = subprocess.run(
        ["kcat", *args], input=stdin, capture_output=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4"])
def test_kcat_produce_consume(broker: BrokerProcess, topic_name: str, codec: str):
    lines = [b"%s:line-%d" % (codec.encode(), i) for i in range(1000)]
    kcat(
        "-b", broker.bootstrap, "-P", "-t", topic_name, "-p", "0", "-z", codec,
        "-X", "topic.request.required.acks=-1", stdin=b"\n".join(lines) + b"\n",
    )
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic_name, "-o", "beginning", "-e", "-q")
    assert out.splitlines() == lines


def test_kcat_keys_and_offsets(broker: BrokerProcess, topic_name: str):
    kcat(
        "-b", broker.bootstrap, "-P", "-t", topic_name, "-p", "0", "-K", ":",
        stdin=b"a:1\nb:2\nc:3\n",
    )
    out = kcat(
        "-b", broker.bootstrap, "-C", "-t", topic_name, "-o", "1", "-e", "-q",
        "-f", "%k=%s@%o\\n",
    )
    assert out.splitlines() == [b"b=2@1", b"c=3@2"]


def test_kcat_metadata_listing(broker: BrokerProcess, topic_name: str):
    kcat("-b", broker.bootstrap, "-P", "-t", topic_name, stdin=b"hello\n")
    out = kcat("-b", broker.bootstrap, "-L", "-t", topic_name).decode()
    assert "1 brokers:" in out
    assert f'topic "{topic_name}"' in out
    assert "partition 0, leader" in out
