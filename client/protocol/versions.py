"""Which versions of which APIs Rillet speaks: the one table the broker advertises from and
the SDK negotiates against, plus where each API's flexible encoding begins.

Ranges list only what the codec implements (a schema exists for every field at every listed
version). Produce 0–2 decode and encode here although the broker answers them with
UNSUPPORTED_VERSION: old librdkafka turns compression off unless the advertised minimum is 0.
"""

from __future__ import annotations

from client.protocol.api_keys import ApiKey

SUPPORTED_VERSIONS: dict[ApiKey, tuple[int, int]] = {
    ApiKey.PRODUCE: (0, 9),
    ApiKey.FETCH: (4, 12),
    ApiKey.LIST_OFFSETS: (1, 7),
    ApiKey.METADATA: (0, 12),
    ApiKey.OFFSET_COMMIT: (2, 7),
    ApiKey.OFFSET_FETCH: (1, 7),
    ApiKey.FIND_COORDINATOR: (0, 3),
    ApiKey.JOIN_GROUP: (0, 5),
    ApiKey.HEARTBEAT: (0, 3),
    ApiKey.LEAVE_GROUP: (0, 1),
    ApiKey.SYNC_GROUP: (0, 3),
    ApiKey.DESCRIBE_GROUPS: (0, 4),
    ApiKey.LIST_GROUPS: (0, 2),
    ApiKey.SASL_HANDSHAKE: (0, 1),
    ApiKey.API_VERSIONS: (0, 4),
    ApiKey.CREATE_TOPICS: (2, 4),
    ApiKey.DELETE_TOPICS: (1, 3),
    ApiKey.DELETE_RECORDS: (0, 1),
    ApiKey.INIT_PRODUCER_ID: (0, 4),
    ApiKey.OFFSET_FOR_LEADER_EPOCH: (2, 4),
    ApiKey.DESCRIBE_CONFIGS: (1, 2),
    ApiKey.ALTER_CONFIGS: (0, 1),
    ApiKey.DESCRIBE_LOG_DIRS: (0, 1),
    ApiKey.SASL_AUTHENTICATE: (0, 1),
    ApiKey.CREATE_PARTITIONS: (0, 2),
    ApiKey.DELETE_GROUPS: (0, 1),
    ApiKey.INCREMENTAL_ALTER_CONFIGS: (0, 1),
    ApiKey.OFFSET_DELETE: (0, 0),
    ApiKey.DESCRIBE_CLUSTER: (0, 1),
}

# First flexible version per API (compact strings and arrays, tagged fields, request header
# v2, response header v1); None when no version in Kafka's range is flexible.
FLEXIBLE_FROM: dict[ApiKey, int | None] = {
    ApiKey.PRODUCE: 9,
    ApiKey.FETCH: 12,
    ApiKey.LIST_OFFSETS: 6,
    ApiKey.METADATA: 9,
    ApiKey.OFFSET_COMMIT: 8,
    ApiKey.OFFSET_FETCH: 6,
    ApiKey.FIND_COORDINATOR: 3,
    ApiKey.JOIN_GROUP: 6,
    ApiKey.HEARTBEAT: 4,
    ApiKey.LEAVE_GROUP: 4,
    ApiKey.SYNC_GROUP: 4,
    ApiKey.DESCRIBE_GROUPS: 5,
    ApiKey.LIST_GROUPS: 3,
    ApiKey.SASL_HANDSHAKE: None,
    ApiKey.API_VERSIONS: 3,
    ApiKey.CREATE_TOPICS: 5,
    ApiKey.DELETE_TOPICS: 4,
    ApiKey.DELETE_RECORDS: 2,
    ApiKey.INIT_PRODUCER_ID: 2,
    ApiKey.OFFSET_FOR_LEADER_EPOCH: 4,
    ApiKey.DESCRIBE_CONFIGS: 4,
    ApiKey.ALTER_CONFIGS: 2,
    ApiKey.DESCRIBE_LOG_DIRS: 2,
    ApiKey.SASL_AUTHENTICATE: 2,
    ApiKey.CREATE_PARTITIONS: 2,
    ApiKey.DELETE_GROUPS: 2,
    ApiKey.INCREMENTAL_ALTER_CONFIGS: 1,
    ApiKey.OFFSET_DELETE: None,
    ApiKey.DESCRIBE_CLUSTER: 0,
}


def is_flexible(api_key: ApiKey | int, api_version: int) -> bool:
    """True when this (api, version) uses the flexible encoding."""
    start = FLEXIBLE_FROM.get(api_key)  # type: ignore[call-overload]
    return start is not None and api_version >= start


def is_supported(api_key: int, api_version: int) -> bool:
    """True when the codec implements this API at this version."""
    span = SUPPORTED_VERSIONS.get(api_key)  # type: ignore[call-overload]
    return span is not None and span[0] <= api_version <= span[1]


def request_header_version(api_key: ApiKey | int, api_version: int) -> int:
    """Request header version: 2 for flexible requests, else 1.

    Header v0 (no client id) belongs to ControlledShutdown v0 only, which we do not speak.
    """
    return 2 if is_flexible(api_key, api_version) else 1


def response_header_version(api_key: ApiKey | int, api_version: int) -> int:
    """Response header version: 1 for flexible responses, except ApiVersions which is always 0."""
    if api_key == ApiKey.API_VERSIONS:
        return 0
    return 1 if is_flexible(api_key, api_version) else 0
