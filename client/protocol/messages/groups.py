"""Consumer group membership and committed offsets: JoinGroup, SyncGroup, Heartbeat,
LeaveGroup, OffsetCommit, OffsetFetch, OffsetDelete, DescribeGroups, ListGroups,
DeleteGroups."""

from __future__ import annotations

from client.protocol.schema import MessageSchema, array, field, struct

JOIN_GROUP = MessageSchema(
    request=struct(
        field("group_id", "string"),
        field("session_timeout_ms", "int32"),
        field("rebalance_timeout_ms", "int32", "1+", default=-1),
        field("member_id", "string"),
        field("group_instance_id", "string", "5+", nullable="5+", default=None),
        field("protocol_type", "string"),
        field("protocols", array(struct(
            field("name", "string"),
            field("metadata", "bytes"),
        ))),
        field("reason", "string", "8+", nullable="8+", default=None),
    ),
    response=struct(
        field("throttle_time_ms", "int32", "2+"),
        field("error_code", "int16"),
        field("generation_id", "int32", default=-1),
        field("protocol_type", "string", "7+", nullable="7+", default=None),
        field("protocol_name", "string", nullable="7+"),
        field("leader", "string"),
        field("skip_assignment", "bool", "9+", default=False),
        field("member_id", "string"),
        field("members", array(struct(
            field("member_id", "string"),
            field("group_instance_id", "string", "5+", nullable="5+", default=None),
            field("metadata", "bytes"),
        ))),
    ),
)

SYNC_GROUP = MessageSchema(
    request=struct(
        field("group_id", "string"),
        field("generation_id", "int32"),
        field("member_id", "string"),
        field("group_instance_id", "string", "3+", nullable="3+", default=None),
        field("protocol_type", "string", "5+", nullable="5+", default=None),
        field("protocol_name", "string", "5+", nullable="5+", default=None),
        field("assignments", array(struct(
            field("member_id", "string"),
            field("assignment", "bytes"),
        ))),
    ),
    response=struct(
        field("throttle_time_ms", "int32", "1+"),
        field("error_code", "int16"),
        field("protocol_type", "string", "5+", nullable="5+", default=None),
        field("protocol_name", "string", "5+", nullable="5+", default=None),
        field("assignment", "bytes"),
    ),
)

HEARTBEAT = MessageSchema(
    request=struct(
        field("group_id", "string"),
        field("generation_id", "int32"),
        field("member_id", "string"),
        field("group_instance_id", "string", "3+", nullable="3+", default=None),
    ),
    response=struct(
        field("throttle_time_ms", "int32", "1+"),
        field("error_code", "int16"),
    ),
)

LEAVE_GROUP = MessageSchema(
    request=struct(
        field("group_id", "string"),
        field("member_id", "string", "0-2"),
        field("members", array(struct(
            field("member_id", "string"),
            field("group_instance_id", "string", nullable="3+", default=None),
            field("reason", "string", "5+", nullable="5+", default=None),
        )), "3+"),
    ),
    response=struct(
        field("throttle_time_ms", "int32", "1+"),
        field("error_code", "int16"),
        field("members", array(struct(
            field("member_id", "string"),
            field("group_instance_id", "string", nullable="3+"),
            field("error_code", "int16"),
        )), "3+"),
    ),
)

OFFSET_COMMIT = MessageSchema(
    request=struct(
        field("group_id", "string"),
        field("generation_id_or_member_epoch", "int32", "1+", default=-1),
        field("member_id", "string", "1+"),
        field("group_instance_id", "string", "7+", nullable="7+", default=None),
        field("retention_time_ms", "int64", "2-4", default=-1),
        field("topics", array(struct(
            field("name", "string", "0-9"),
            field("topic_id", "uuid", "10+"),
            field("partitions", array(struct(
                field("partition_index", "int32"),
                field("committed_offset", "int64"),
                field("committed_leader_epoch", "int32", "6+", default=-1),
                field("commit_timestamp", "int64", "1", default=-1),
                field("committed_metadata", "string", nullable="0+"),
            ))),
        ))),
    ),
    response=struct(
        field("throttle_time_ms", "int32", "3+"),
        field("topics", array(struct(
            field("name", "string", "0-9"),
            field("topic_id", "uuid", "10+"),
            field("partitions", array(struct(
                field("partition_index", "int32"),
                field("error_code", "int16"),
            ))),
        ))),
    ),
)

OFFSET_FETCH = MessageSchema(
    request=struct(
        field("group_id", "string", "0-7"),
        field("topics", array(struct(
            field("name", "string"),
            field("partition_indexes", array("int32")),
        )), "0-7", nullable="2-7"),
        field("groups", array(struct(
            field("group_id", "string"),
            field("member_id", "string", "9+", nullable="9+", default=None),
            field("member_epoch", "int32", "9+", default=-1),
            field("topics", array(struct(
                field("name", "string", "8-9"),
                field("topic_id", "uuid", "10+"),
                field("partition_indexes", array("int32")),
            )), nullable="8+"),
        )), "8+"),
        field("require_stable", "bool", "7+", default=False),
    ),
    response=struct(
        field("throttle_time_ms", "int32", "3+"),
        field("topics", array(struct(
            field("name", "string"),
            field("partitions", array(struct(
                field("partition_index", "int32"),
                field("committed_offset", "int64"),
                field("committed_leader_epoch", "int32", "5+", default=-1),
                field("metadata", "string", nullable="0+"),
                field("error_code", "int16"),
            ))),
        )), "0-7"),
        field("error_code", "int16", "2-7", default=0),
        field("groups", array(struct(
            field("group_id", "string"),
            field("topics", array(struct(
                field("name", "string", "8-9"),
                field("topic_id", "uuid", "10+"),
                field("partitions", array(struct(
                    field("partition_index", "int32"),
                    field("committed_offset", "int64"),
                    field("committed_leader_epoch", "int32", default=-1),
                    field("metadata", "string", nullable="8+"),
                    field("error_code", "int16"),
                ))),
            ))),
            field("error_code", "int16", default=0),
        )), "8+"),
    ),
)

OFFSET_DELETE = MessageSchema(
    request=struct(
        field("group_id", "string"),
        field("topics", array(struct(
            field("name", "string"),
            field("partitions", array(struct(field("partition_index", "int32")))),
        ))),
    ),
    response=struct(
        field("error_code", "int16"),
        field("throttle_time_ms", "int32"),
        field("topics", array(struct(
            field("name", "string"),
            field("partitions", array(struct(
                field("partition_index", "int32"),
                field("error_code", "int16"),
            ))),
        ))),
    ),
)

DESCRIBE_GROUPS = MessageSchema(
    request=struct(
        field("groups", array("string")),
        field("include_authorized_operations", "bool", "3+"),
    ),
    response=struct(
        field("throttle_time_ms", "int32", "1+"),
        field("groups", array(struct(
            field("error_code", "int16"),
            field("error_message", "string", "6+", nullable="6+", default=None),
            field("group_id", "string"),
            field("group_state", "string"),
            field("protocol_type", "string"),
            field("protocol_data", "string"),
            field("members", array(struct(
                field("member_id", "string"),
                field("group_instance_id", "string", "4+", nullable="4+", default=None),
                field("client_id", "string"),
                field("client_host", "string"),
                field("member_metadata", "bytes"),
                field("member_assignment", "bytes"),
            ))),
            field("authorized_operations", "int32", "3+", default=-(2**31)),
        ))),
    ),
)

LIST_GROUPS = MessageSchema(
    request=struct(
        field("states_filter", array("string"), "4+"),
        field("types_filter", array("string"), "5+"),
    ),
    response=struct(
        field("throttle_time_ms", "int32", "1+"),
        field("error_code", "int16"),
        field("groups", array(struct(
            field("group_id", "string"),
            field("protocol_type", "string"),
            field("group_state", "string", "4+"),
            field("group_type", "string", "5+"),
        ))),
    ),
)

DELETE_GROUPS = MessageSchema(
    request=struct(field("groups_names", array("string"))),
    response=struct(
        field("throttle_time_ms", "int32"),
        field("results", array(struct(
            field("group_id", "string"),
            field("error_code", "int16"),
        ))),
    ),
)
