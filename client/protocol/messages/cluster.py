"""ApiVersions, Metadata, FindCoordinator, DescribeCluster and the SASL exchange: how a
client learns what the cluster is, where to send what, and who it is."""

from __future__ import annotations

from client.protocol.schema import MessageSchema, array, field, struct

API_VERSIONS = MessageSchema(
    request=struct(
        field("client_software_name", "string", "3+"),
        field("client_software_version", "string", "3+"),
    ),
    response=struct(
        field("error_code", "int16"),
        field("api_keys", array(struct(
            field("api_key", "int16"),
            field("min_version", "int16"),
            field("max_version", "int16"),
        ))),
        field("throttle_time_ms", "int32", "1+"),
        field("supported_features", array(struct(
            field("name", "string"),
            field("min_version", "int16"),
            field("max_version", "int16"),
        )), "3+", tag=0),
        field("finalized_features_epoch", "int64", "3+", tag=1, default=-1),
        field("finalized_features", array(struct(
            field("name", "string"),
            field("max_version_level", "int16"),
            field("min_version_level", "int16"),
        )), "3+", tag=2),
        field("zk_migration_ready", "bool", "3+", tag=3, default=False),
    ),
)

METADATA = MessageSchema(
    request=struct(
        field("topics", array(struct(
            field("topic_id", "uuid", "10+"),
            field("name", "string", nullable="10+"),
        )), nullable="1+"),
        field("allow_auto_topic_creation", "bool", "4+", default=True),
        field("include_cluster_authorized_operations", "bool", "8-10"),
        field("include_topic_authorized_operations", "bool", "8+"),
    ),
    response=struct(
        field("throttle_time_ms", "int32", "3+"),
        field("brokers", array(struct(
            field("node_id", "int32"),
            field("host", "string"),
            field("port", "int32"),
            field("rack", "string", "1+", nullable="1+", default=None),
        ))),
        field("cluster_id", "string", "2+", nullable="2+", default=None),
        field("controller_id", "int32", "1+", default=-1),
        field("topics", array(struct(
            field("error_code", "int16"),
            field("name", "string", nullable="12+"),
            field("topic_id", "uuid", "10+"),
            field("is_internal", "bool", "1+", default=False),
            field("partitions", array(struct(
                field("error_code", "int16"),
                field("partition_index", "int32"),
                field("leader_id", "int32"),
                field("leader_epoch", "int32", "7+", default=-1),
                field("replica_nodes", array("int32")),
                field("isr_nodes", array("int32")),
                field("offline_replicas", array("int32"), "5+"),
            ))),
            field("topic_authorized_operations", "int32", "8+", default=-(2**31)),
        ))),
        field("cluster_authorized_operations", "int32", "8-10", default=-(2**31)),
        field("error_code", "int16", "13+"),
    ),
)

FIND_COORDINATOR = MessageSchema(
    request=struct(
        field("key", "string", "0-3"),
        field("key_type", "int8", "1+", default=0),
        field("coordinator_keys", array("string"), "4+"),
    ),
    response=struct(
        field("throttle_time_ms", "int32", "1+"),
        field("error_code", "int16", "0-3"),
        field("error_message", "string", "1-3", nullable="1-3", default=None),
        field("node_id", "int32", "0-3"),
        field("host", "string", "0-3"),
        field("port", "int32", "0-3"),
        field("coordinators", array(struct(
            field("key", "string"),
            field("node_id", "int32"),
            field("host", "string"),
            field("port", "int32"),
            field("error_code", "int16"),
            field("error_message", "string", nullable="4+", default=None),
        )), "4+"),
    ),
)

DESCRIBE_CLUSTER = MessageSchema(
    request=struct(
        field("include_cluster_authorized_operations", "bool"),
        field("endpoint_type", "int8", "1+", default=1),
        field("include_fenced_brokers", "bool", "2+"),
    ),
    response=struct(
        field("throttle_time_ms", "int32"),
        field("error_code", "int16"),
        field("error_message", "string", nullable="0+", default=None),
        field("endpoint_type", "int8", "1+", default=1),
        field("cluster_id", "string"),
        field("controller_id", "int32", default=-1),
        field("brokers", array(struct(
            field("broker_id", "int32"),
            field("host", "string"),
            field("port", "int32"),
            field("rack", "string", nullable="0+", default=None),
            field("is_fenced", "bool", "2+"),
        ))),
        field("cluster_authorized_operations", "int32", default=-(2**31)),
    ),
)

SASL_HANDSHAKE = MessageSchema(
    request=struct(field("mechanism", "string")),
    response=struct(
        field("error_code", "int16"),
        field("mechanisms", array("string")),
    ),
)

SASL_AUTHENTICATE = MessageSchema(
    request=struct(field("auth_bytes", "bytes")),
    response=struct(
        field("error_code", "int16"),
        field("error_message", "string", nullable="0+"),
        field("auth_bytes", "bytes"),
        field("session_lifetime_ms", "int64", "1+", default=0),
    ),
)
