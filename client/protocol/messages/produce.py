"""Produce, Fetch and InitProducerId: the record-carrying APIs and the producer handshake."""

from __future__ import annotations

from client.protocol.schema import MessageSchema, array, field, struct

_leader_id_and_epoch = struct(
    field("leader_id", "int32", default=-1),
    field("leader_epoch", "int32", default=-1),
)

PRODUCE = MessageSchema(
    request=struct(
        field("transactional_id", "string", "3+", nullable="3+", default=None),
        field("acks", "int16"),
        field("timeout_ms", "int32"),
        field("topic_data", array(struct(
            field("name", "string", "0-12"),
            field("topic_id", "uuid", "13+"),
            field("partition_data", array(struct(
                field("index", "int32"),
                field("records", "records", nullable="0+"),
            ))),
        ))),
    ),
    response=struct(
        field("responses", array(struct(
            field("name", "string", "0-12"),
            field("topic_id", "uuid", "13+"),
            field("partition_responses", array(struct(
                field("index", "int32"),
                field("error_code", "int16"),
                field("base_offset", "int64"),
                field("log_append_time_ms", "int64", "2+", default=-1),
                field("log_start_offset", "int64", "5+", default=-1),
                field("record_errors", array(struct(
                    field("batch_index", "int32"),
                    field("batch_index_error_message", "string", nullable="8+", default=None),
                )), "8+"),
                field("error_message", "string", "8+", nullable="8+", default=None),
                field("current_leader", _leader_id_and_epoch, "10+", tag=0),
            ))),
        ))),
        field("throttle_time_ms", "int32", "1+", default=0),
        field("node_endpoints", array(struct(
            field("node_id", "int32"),
            field("host", "string"),
            field("port", "int32"),
            field("rack", "string", nullable="0+", default=None),
        )), "10+", tag=0),
    ),
)

# Tag of the fields Rillet brokers add to the Fetch between themselves (far above Kafka's own
# tags; any other reader skips them, and they are never sent to anyone else).
RILLET_TAG = 10_000

# Fetch session epochs (KIP-227): 0 opens a session, -1 fetches without one.
FETCH_SESSION_INITIAL_EPOCH = 0
FETCH_SESSION_FINAL_EPOCH = -1

FETCH = MessageSchema(
    request=struct(
        field("cluster_id", "string", "12+", nullable="12+", tag=0, default=None),
        field("replica_id", "int32", "0-14", default=-1),
        field("replica_state", struct(
            field("replica_id", "int32", default=-1),
            field("replica_epoch", "int64", default=-1),
        ), "15+", tag=1),
        field("max_wait_ms", "int32"),
        field("min_bytes", "int32"),
        field("max_bytes", "int32", "3+", default=0x7FFFFFFF),
        field("isolation_level", "int8", "4+", default=0),
        field("session_id", "int32", "7+", default=0),
        field("session_epoch", "int32", "7+", default=-1),
        field("topics", array(struct(
            field("topic", "string", "0-12"),
            field("topic_id", "uuid", "13+"),
            field("partitions", array(struct(
                field("partition", "int32"),
                field("current_leader_epoch", "int32", "9+", default=-1),
                field("fetch_offset", "int64"),
                field("last_fetched_epoch", "int32", "12+", default=-1),
                field("log_start_offset", "int64", "5+", default=-1),
                field("partition_max_bytes", "int32"),
                # Rillet's own: how far the follower's copy is fsynced.
                field("durable_offset", "int64", "12+", tag=RILLET_TAG, default=-1),
            ))),
        ))),
        field("forgotten_topics_data", array(struct(
            field("topic", "string", "7-12"),
            field("topic_id", "uuid", "13+"),
            field("partitions", array("int32")),
        )), "7+"),
        field("rack_id", "string", "11+", default=""),
    ),
    response=struct(
        field("throttle_time_ms", "int32", "1+"),
        field("error_code", "int16", "7+"),
        field("session_id", "int32", "7+", default=0),
        field("responses", array(struct(
            field("topic", "string", "0-12"),
            field("topic_id", "uuid", "13+"),
            field("partitions", array(struct(
                field("partition_index", "int32"),
                field("error_code", "int16"),
                field("high_watermark", "int64"),
                field("last_stable_offset", "int64", "4+", default=-1),
                field("log_start_offset", "int64", "5+", default=-1),
                field("diverging_epoch", struct(
                    field("epoch", "int32", default=-1),
                    field("end_offset", "int64", default=-1),
                ), "12+", tag=0),
                field("current_leader", _leader_id_and_epoch, "12+", tag=1),
                field("snapshot_id", struct(
                    field("end_offset", "int64", default=-1),
                    field("epoch", "int32", default=-1),
                ), "12+", tag=2),
                field("aborted_transactions", array(struct(
                    field("producer_id", "int64"),
                    field("first_offset", "int64"),
                )), "4+", nullable="4+"),
                field("preferred_read_replica", "int32", "11+", default=-1),
                field("records", "records", nullable="0+"),
                # Rillet's own, to followers: the leader's log end offset.
                field("log_end_offset", "int64", "12+", tag=RILLET_TAG, default=-1),
            ))),
        ))),
    ),
)

INIT_PRODUCER_ID = MessageSchema(
    request=struct(
        field("transactional_id", "string", nullable="0+"),
        field("transaction_timeout_ms", "int32"),
        field("producer_id", "int64", "3+", default=-1),
        field("producer_epoch", "int16", "3+", default=-1),
    ),
    response=struct(
        field("throttle_time_ms", "int32"),
        field("error_code", "int16"),
        field("producer_id", "int64", default=-1),
        field("producer_epoch", "int16"),
    ),
)
