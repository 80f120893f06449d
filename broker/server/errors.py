"""Error responses built from a request alone, for when its handler failed or cannot run.

Kafka APIs carry error codes in different places: at the top of the response (group APIs,
InitProducerId...), per topic (CreateTopics...), per partition (Produce, Fetch...). For each
API this module knows where, and which request fields identify the topic or partition to
echo, so a failure can be answered with a response every client understands rather than a
dropped connection. APIs not listed here (Metadata among them) have no useful error shape:
their failures close the connection.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from client.protocol import ApiKey


class Level(NamedTuple):
    """One array level: request field -> response field, fields copied (`""` = the item)."""

    request: str
    response: str
    copy: tuple[tuple[str, str], ...]
    child: Level | None = None


class ErrorShape(NamedTuple):
    """Where an API's response holds errors: a top-level error_code from `top_since` on
    (None = never), and/or the error at the innermost of `levels`."""

    top_since: int | None
    levels: Level | None = None


def _partitions(req: str, resp: str, key: str, resp_key: str | None = None) -> Level:
    return Level(req, resp, ((key, resp_key or key),))


_SHAPES: dict[int, ErrorShape] = {
    ApiKey.PRODUCE: ErrorShape(
        None,
        Level("topic_data", "responses", (("name", "name"),),
              _partitions("partition_data", "partition_responses", "index")),
    ),
    ApiKey.FETCH: ErrorShape(
        7,
        Level("topics", "responses", (("topic", "topic"), ("topic_id", "topic_id")),
              _partitions("partitions", "partitions", "partition", "partition_index")),
    ),
    ApiKey.LIST_OFFSETS: ErrorShape(
        None,
        Level("topics", "topics", (("name", "name"),),
              _partitions("partitions", "partitions", "partition_index")),
    ),
    ApiKey.OFFSET_FOR_LEADER_EPOCH: ErrorShape(
        None,
        Level("topics", "topics", (("topic", "topic"),),
              _partitions("partitions", "partitions", "partition")),
    ),
    ApiKey.OFFSET_COMMIT: ErrorShape(
        None,
        Level("topics", "topics", (("name", "name"),),
              _partitions("partitions", "partitions", "partition_index")),
    ),
    ApiKey.OFFSET_FETCH: ErrorShape(
        2,
        Level("topics", "topics", (("name", "name"),),
              Level("partition_indexes", "partitions", (("", "partition_index"),))),
    ),
    ApiKey.DELETE_RECORDS: ErrorShape(
        None,
        Level("topics", "topics", (("name", "name"),),
              _partitions("partitions", "partitions", "partition_index")),
    ),
    ApiKey.CREATE_TOPICS: ErrorShape(None, Level("topics", "topics", (("name", "name"),))),
    ApiKey.DELETE_TOPICS: ErrorShape(None, Level("topic_names", "responses", (("", "name"),))),
    ApiKey.CREATE_PARTITIONS: ErrorShape(None, Level("topics", "results", (("name", "name"),))),
    ApiKey.DESCRIBE_GROUPS: ErrorShape(None, Level("groups", "groups", (("", "group_id"),))),
    ApiKey.DELETE_GROUPS: ErrorShape(None, Level("groups_names", "results", (("", "group_id"),))),
    ApiKey.DESCRIBE_CONFIGS: ErrorShape(
        None,
        Level("resources", "results",
              (("resource_type", "resource_type"), ("resource_name", "resource_name"))),
    ),
    ApiKey.ALTER_CONFIGS: ErrorShape(
        None,
        Level("resources", "responses",
              (("resource_type", "resource_type"), ("resource_name", "resource_name"))),
    ),
    ApiKey.INCREMENTAL_ALTER_CONFIGS: ErrorShape(
        None,
        Level("resources", "responses",
              (("resource_type", "resource_type"), ("resource_name", "resource_name"))),
    ),
}

# APIs whose response has a top-level error_code in every version.
for _api in (
    ApiKey.API_VERSIONS,
    ApiKey.FIND_COORDINATOR,
    ApiKey.JOIN_GROUP,
    ApiKey.SYNC_GROUP,
    ApiKey.HEARTBEAT,
    ApiKey.LEAVE_GROUP,
    ApiKey.LIST_GROUPS,
    ApiKey.SASL_HANDSHAKE,
    ApiKey.SASL_AUTHENTICATE,
    ApiKey.INIT_PRODUCER_ID,
    ApiKey.OFFSET_DELETE,
    ApiKey.DESCRIBE_CLUSTER,
):
    _SHAPES[_api] = ErrorShape(0)


def _fill(level: Level, items: Any, code: int) -> list[Any]:
    out = []
    for item in items or ():
        entry: dict[str, Any] = {}
        for src, dst in level.copy:
            if src == "":
                entry[dst] = item
            elif isinstance(item, dict) and src in item:
                entry[dst] = item[src]
        if level.child is None:
            entry["error_code"] = code
        else:
            child_items = item.get(level.child.request) if isinstance(item, dict) else None
            entry[level.child.response] = _fill(level.child, child_items, code)
        out.append(entry)
    return out


def error_response_body(
    api_key: int, api_version: int, request: dict[str, Any], code: int
) -> dict[str, Any] | None:
    """A response body answering every topic/partition of `request` with `code`, or None when
    the API has no place for an error."""
    shape = _SHAPES.get(api_key)
    if shape is None:
        return None
    body: dict[str, Any] = {}
    if shape.top_since is not None and api_version >= shape.top_since:
        body["error_code"] = code
    if shape.levels is not None:
        body[shape.levels.response] = _fill(shape.levels, request.get(shape.levels.request), code)
    if not body:
        return None
    return body
