"""The Kafka error codes the group coordinator answers with: the protocol's own table."""

from __future__ import annotations

from client.protocol import ErrorCode

__all__ = ["ErrorCode"]
