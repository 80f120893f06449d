"""One declarative schema per API, keyed by API key."""

from __future__ import annotations

from client.protocol.api_keys import ApiKey
from client.protocol.messages import admin, cluster, groups, offsets, produce
from client.protocol.schema import MessageSchema

SCHEMAS: dict[ApiKey, MessageSchema] = {
    ApiKey.PRODUCE: produce.PRODUCE,
    ApiKey.FETCH: produce.FETCH,
    ApiKey.INIT_PRODUCER_ID: produce.INIT_PRODUCER_ID,
    ApiKey.LIST_OFFSETS: offsets.LIST_OFFSETS,
    ApiKey.OFFSET_FOR_LEADER_EPOCH: offsets.OFFSET_FOR_LEADER_EPOCH,
    ApiKey.DELETE_RECORDS: offsets.DELETE_RECORDS,
    ApiKey.API_VERSIONS: cluster.API_VERSIONS,
    ApiKey.METADATA: cluster.METADATA,
    ApiKey.FIND_COORDINATOR: cluster.FIND_COORDINATOR,
    ApiKey.DESCRIBE_CLUSTER: cluster.DESCRIBE_CLUSTER,
    ApiKey.SASL_HANDSHAKE: cluster.SASL_HANDSHAKE,
    ApiKey.SASL_AUTHENTICATE: cluster.SASL_AUTHENTICATE,
    ApiKey.JOIN_GROUP: groups.JOIN_GROUP,
    ApiKey.SYNC_GROUP: groups.SYNC_GROUP,
    ApiKey.HEARTBEAT: groups.HEARTBEAT,
    ApiKey.LEAVE_GROUP: groups.LEAVE_GROUP,
    ApiKey.OFFSET_COMMIT: groups.OFFSET_COMMIT,
    ApiKey.OFFSET_FETCH: groups.OFFSET_FETCH,
    ApiKey.OFFSET_DELETE: groups.OFFSET_DELETE,
    ApiKey.DESCRIBE_GROUPS: groups.DESCRIBE_GROUPS,
    ApiKey.LIST_GROUPS: groups.LIST_GROUPS,
    ApiKey.DELETE_GROUPS: groups.DELETE_GROUPS,
    ApiKey.CREATE_TOPICS: admin.CREATE_TOPICS,
    ApiKey.DELETE_TOPICS: admin.DELETE_TOPICS,
    ApiKey.CREATE_PARTITIONS: admin.CREATE_PARTITIONS,
    ApiKey.DESCRIBE_CONFIGS: admin.DESCRIBE_CONFIGS,
    ApiKey.ALTER_CONFIGS: admin.ALTER_CONFIGS,
    ApiKey.INCREMENTAL_ALTER_CONFIGS: admin.INCREMENTAL_ALTER_CONFIGS,
    ApiKey.DESCRIBE_LOG_DIRS: admin.DESCRIBE_LOG_DIRS,
}
