"""kafka-python 3.x against a real Rillet broker: gzip produce, consume, admin, offsets."""

from __future__ import annotations

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from harness.broker import BrokerProcess


def test_gzip_produce_and_consume(broker: BrokerProcess, topic_name: str):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic(topic_name, num_partitions=2, replication_factor=1)])
    admin.close()

    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, compression_type="gzip", acks="all", linger_ms=5
    )
    futures = [
        producer.send(
            topic_name,
            key=b"k%d" % (i % 10),
            value=b"gzip-value-%d" % i,
            headers=[("h", b"%d" % i)],
        )
        for i in range(3000)
    ]
    producer.flush(30)
    metadata = [future.get(timeout=10) for future in futures]
    producer.close()
    assert {m.partition for m in metadata} == {0, 1}

    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap, consumer_timeout_ms=5000, auto_offset_reset="earliest"
    )
    consumer.assign([TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)])
    consumer.seek_to_beginning()
    records = [record for _, record in zip(range(3000), consumer)]
    consumer.close()
    assert len(records) == 3000
    assert sorted(r.value for r in records) == sorted(b"gzip-value-%d" % i for i in range(3000))
    for record in records:
        index = int(record.value.rsplit(b"-", 1)[1])
        assert record.key == b"k%d" % (index % 10)
        assert record.headers == [("h", b"%d" % index)]
    sent = {(m.partition, m.offset) for m in metadata}
    assert {(r.partition, r.offset) for r in records} == sent


def test_offsets_earliest_latest_and_by_time(broker: BrokerProcess, topic_name: str):
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0)
    base = 1_700_000_000_000
    for i in range(50):
        producer.send(topic_name, value=b"x", partition=0, timestamp_ms=base + 1000 * i).get(10)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    tp = TopicPartition(topic_name, 0)
    assert consumer.beginning_offsets([tp])[tp] == 0
    assert consumer.end_offsets([tp])[tp] == 50
    found = consumer.offsets_for_times({tp: base + 1000 * 30 - 1})[tp]
    assert found.offset == 30 and found.timestamp == base + 1000 * 30
    assert consumer.offsets_for_times({tp: base + 1000 * 50})[tp] is None
    consumer.close()


def test_describe_cluster(broker: BrokerProcess):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    cluster = admin.describe_cluster()
    admin.close()
    assert cluster["controller_id"] == 0
    assert [(b["broker_id"], b["port"]) for b in cluster["brokers"]] == [(0, broker.port)]
    assert cluster["cluster_id"]
