"""The blocking clients against a real broker."""

from __future__ import annotations

import pytest

import client.sync
from client.errors import TopicAlreadyExistsError
from harness.broker import BrokerProcess
from integration.sdk.reader import read_all


def test_sync_admin_and_producer(broker: BrokerProcess, topic_name: str) -> None:
    with client.sync.Admin(broker.bootstrap) as admin:
        admin.create_topic(topic_name, 2)
        assert topic_name in admin.list_topics()
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topic(topic_name, 2)
    with client.sync.Producer(broker.bootstrap, linger_ms=2) as producer:
        first = producer.send(topic_name, b"first", partition=1).get(timeout=30)
        futures = [producer.send(topic_name, b"%05d" % i, partition=0) for i in range(5000)]
        producer.flush()
    assert (first.partition, first.offset) == (1, 0)
    assert [f.result().offset for f in futures] == list(range(5000))
    values = [r.value for r in read_all(broker.bootstrap, topic_name, 2) if r.partition == 0]
    assert values == [b"%05d" % i for i in range(5000)]
