"""ListOffsets, OffsetForLeaderEpoch and DeleteRecords: questions about positions in a log."""

from __future__ import annotations

from client.protocol.schema import MessageSchema, array, field, struct

LIST_OFFSETS = MessageSchema(
    request=struct(
        field("replica_id", "int32"),
        field("isolation_level", "int8", "2+"),
        field("topics", array(struct(
            field("name", "string"),
            field("partitions", array(struct(
                field("partition_index", "int32"),
                field("current_leader_epoch", "int32", "4+", default=-1),
                field("timestamp", "int64"),
                field("max_num_offsets", "int32", "0", default=1),
            ))),
        ))),
        field("timeout_ms", "int32", "10+"),
    ),
    response=struct(
        field("throttle_time_ms", "int32", "2+"),
        field("topics", array(struct(
            field("name", "string"),
            field("partitions", array(struct(
                field("partition_index", "int32"),
                field("error_code", "int16"),
                field("old_style_offsets", array("int64"), "0"),
                field("timestamp", "int64", "1+", default=-1),
                field("offset", "int64", "1+", default=-1),
                field("leader_epoch", "int32", "4+", default=-1),
            ))),
        ))),
    ),
)

OFFSET_FOR_LEADER_EPOCH = MessageSchema(
    request=struct(
        field("replica_id", "int32", "3+", default=-2),
        field("topics", array(struct(
            field("topic", "string"),
            field("partitions", array(struct(
                field("partition", "int32"),
                field("current_leader_epoch", "int32", "2+", default=-1),
                field("leader_epoch", "int32"),
            ))),
        ))),
    ),
    response=struct(
        field("throttle_time_ms", "int32", "2+"),
        field("topics", array(struct(
            field("topic", "string"),
            field("partitions", array(struct(
                field("error_code", "int16"),
                field("partition", "int32"),
                field("leader_epoch", "int32", "1+", default=-1),
                field("end_offset", "int64", default=-1),
            ))),
        ))),
    ),
)

DELETE_RECORDS = MessageSchema(
    request=struct(
        field("topics", array(struct(
            field("name", "string"),
            field("partitions", array(struct(
                field("partition_index", "int32"),
                field("offset", "int64"),
            ))),
        ))),
        field("timeout_ms", "int32"),
    ),
    response=struct(
        field("throttle_time_ms", "int32"),
        field("topics", array(struct(
            field("name", "string"),
            field("partitions", array(struct(
                field("partition_index", "int32"),
                field("low_watermark", "int64"),
                field("error_code", "int16"),
            ))),
        ))),
    ),
)
