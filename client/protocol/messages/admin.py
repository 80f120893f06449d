"""Topic and configuration administration: CreateTopics, DeleteTopics, CreatePartitions,
DescribeConfigs, AlterConfigs, IncrementalAlterConfigs, DescribeLogDirs."""

from __future__ import annotations

from client.protocol.schema import MessageSchema, array, field, struct

CREATE_TOPICS = MessageSchema(
    request=struct(
        field("topics", array(struct(
            field("name", "string"),
            field("num_partitions", "int32"),
            field("replication_factor", "int16"),
            field("assignments", array(struct(
                field("partition_index", "int32"),
                field("broker_ids", array("int32")),
            ))),
            field("configs", array(struct(
                field("name", "string"),
                field("value", "string", nullable="0+"),
            ))),
        ))),
        field("timeout_ms", "int32", default=60000),
        field("validate_only", "bool", "1+", default=False),
    ),
    response=struct(
        field("throttle_time_ms", "int32", "2+"),
        field("topics", array(struct(
            field("name", "string"),
            field("topic_id", "uuid", "7+"),
            field("error_code", "int16"),
            field("error_message", "string", "1+", nullable="0+"),
            field("topic_config_error_code", "int16", "5+", tag=0),
            field("num_partitions", "int32", "5+", default=-1),
            field("replication_factor", "int16", "5+", default=-1),
            field("configs", array(struct(
                field("name", "string"),
                field("value", "string", nullable="5+"),
                field("read_only", "bool"),
                field("config_source", "int8", default=-1),
                field("is_sensitive", "bool"),
            )), "5+", nullable="5+"),
        ))),
    ),
)

DELETE_TOPICS = MessageSchema(
    request=struct(
        field("topics", array(struct(
            field("name", "string", nullable="6+", default=None),
            field("topic_id", "uuid"),
        )), "6+"),
        field("topic_names", array("string"), "0-5"),
        field("timeout_ms", "int32"),
    ),
    response=struct(
        field("throttle_time_ms", "int32", "1+"),
        field("responses", array(struct(
            field("name", "string", nullable="6+"),
            field("topic_id", "uuid", "6+"),
            field("error_code", "int16"),
            field("error_message", "string", "5+", nullable="5+", default=None),
        ))),
    ),
)

CREATE_PARTITIONS = MessageSchema(
    request=struct(
        field("topics", array(struct(
            field("name", "string"),
            field("count", "int32"),
            field("assignments", array(struct(
                field("broker_ids", array("int32")),
            )), nullable="0+"),
        ))),
        field("timeout_ms", "int32"),
        field("validate_only", "bool"),
    ),
    response=struct(
        field("throttle_time_ms", "int32"),
        field("results", array(struct(
            field("name", "string"),
            field("error_code", "int16"),
            field("error_message", "string", nullable="0+", default=None),
        ))),
    ),
)

DESCRIBE_CONFIGS = MessageSchema(
    request=struct(
        field("resources", array(struct(
            field("resource_type", "int8"),
            field("resource_name", "string"),
            field("configuration_keys", array("string"), nullable="0+"),
        ))),
        field("include_synonyms", "bool", "1+", default=False),
        field("include_documentation", "bool", "3+", default=False),
    ),
    response=struct(
        field("throttle_time_ms", "int32"),
        field("results", array(struct(
            field("error_code", "int16"),
            field("error_message", "string", nullable="0+"),
            field("resource_type", "int8"),
            field("resource_name", "string"),
            field("configs", array(struct(
                field("name", "string"),
                field("value", "string", nullable="0+"),
                field("read_only", "bool"),
                field("config_source", "int8", "1+", default=-1),
                field("is_default", "bool", "0"),
                field("is_sensitive", "bool"),
                field("synonyms", array(struct(
                    field("name", "string"),
                    field("value", "string", nullable="0+"),
                    field("source", "int8"),
                )), "1+"),
                field("config_type", "int8", "3+", default=0),
                field("documentation", "string", "3+", nullable="0+"),
            ))),
        ))),
    ),
)

_alter_configs_response = struct(
    field("throttle_time_ms", "int32"),
    field("responses", array(struct(
        field("error_code", "int16"),
        field("error_message", "string", nullable="0+"),
        field("resource_type", "int8"),
        field("resource_name", "string"),
    ))),
)

ALTER_CONFIGS = MessageSchema(
    request=struct(
        field("resources", array(struct(
            field("resource_type", "int8"),
            field("resource_name", "string"),
            field("configs", array(struct(
                field("name", "string"),
                field("value", "string", nullable="0+"),
            ))),
        ))),
        field("validate_only", "bool"),
    ),
    response=_alter_configs_response,
)

INCREMENTAL_ALTER_CONFIGS = MessageSchema(
    request=struct(
        field("resources", array(struct(
            field("resource_type", "int8"),
            field("resource_name", "string"),
            field("configs", array(struct(
                field("name", "string"),
                field("config_operation", "int8"),
                field("value", "string", nullable="0+"),
            ))),
        ))),
        field("validate_only", "bool"),
    ),
    response=_alter_configs_response,
)

# Versions 0-1 only (the same wire format; v1 throttles after answering).
DESCRIBE_LOG_DIRS = MessageSchema(
    request=struct(
        field("topics", array(struct(
            field("topic", "string"),
            field("partitions", array("int32")),
        )), nullable="0+"),
    ),
    response=struct(
        field("throttle_time_ms", "int32"),
        field("results", array(struct(
            field("error_code", "int16"),
            field("log_dir", "string"),
            field("topics", array(struct(
                field("name", "string"),
                field("partitions", array(struct(
                    field("partition_index", "int32"),
                    field("partition_size", "int64"),
                    field("offset_lag", "int64"),
                    field("is_future_key", "bool"),
                ))),
            ))),
        ))),
    ),
)
