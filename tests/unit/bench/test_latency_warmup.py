"""The latency consumer waits for its group coordinator before the clock starts."""

from __future__ import annotations

from typing import Any

from bench.kafka_clients import OFFSETS_TOPIC, _coordinated
from client.protocol import ApiKey, ErrorCode


def _partition(index: int, replicas: list[int], isr: list[int]) -> dict[str, Any]:
    return {"error_code": 0, "partition_index": index, "replica_nodes": replicas,
            "isr_nodes": isr}


def _broker(coordinator_error: int, partitions: list[dict[str, Any]]) -> Any:
    def request(address: str, api: ApiKey, version: int, body: dict) -> dict:
        if api == ApiKey.FIND_COORDINATOR:
            assert body["key"] == "g"
            return {"error_code": coordinator_error}
        assert api == ApiKey.METADATA and body["topics"] == [{"name": OFFSETS_TOPIC}]
        return {"topics": [{"name": OFFSETS_TOPIC, "error_code": 0, "partitions": partitions}]}
    return request


def test_no_coordinator_yet() -> None:
    request = _broker(ErrorCode.COORDINATOR_NOT_AVAILABLE, [_partition(0, [1, 2], [1, 2])])
    assert not _coordinated(request, "h:1", "g")


def test_offsets_partitions_still_catching_up() -> None:
    request = _broker(0, [_partition(0, [1, 2, 3], [1, 2, 3]), _partition(1, [2, 3, 1], [2])])
    assert not _coordinated(request, "h:1", "g")


def test_coordinated_once_every_offsets_partition_is_in_sync() -> None:
    request = _broker(0, [_partition(0, [1, 2, 3], [1, 2, 3]), _partition(1, [2, 3, 1], [2, 3, 1])])
    assert _coordinated(request, "h:1", "g")
