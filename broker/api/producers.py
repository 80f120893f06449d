"""InitProducerId: producer ids and epochs for idempotent producers.

A producer without a transactional id gets a fresh id at epoch 0; one that sends its current
id and epoch (v3+, after a fatal sequence error) keeps the id with the epoch bumped, so its
old in-flight batches are fenced.  Transactions are not offered yet: a transactional id gets
COORDINATOR_NOT_AVAILABLE, as FindCoordinator answers for transaction coordinators.
"""

from __future__ import annotations

from typing import Any

from client.protocol import ErrorCode, RequestHeader

from broker.api.state import state_of
from broker.server.context import RequestContext

Body = dict[str, Any]
MAX_EPOCH = 32767


async def handle_init_producer_id(
    ctx: RequestContext, header: RequestHeader, body: Body
) -> Body:
    """A producer id and epoch for an idempotent producer."""
    state = state_of(ctx)
    if body.get("transactional_id") is not None:
        return {"throttle_time_ms": 0, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE,
                "producer_id": -1, "producer_epoch": -1}  # fmt: skip
    producer_id = body.get("producer_id", -1)
    epoch = body.get("producer_epoch", -1)
    if producer_id >= 0 and 0 <= epoch < MAX_EPOCH - 1:
        return {"throttle_time_ms": 0, "error_code": ErrorCode.NONE,
                "producer_id": producer_id, "producer_epoch": epoch + 1}  # fmt: skip
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "producer_id": await state.producer_ids.allocate(),
        "producer_epoch": 0,
    }
