"""Retry delays: exponential backoff with full jitter, and a retry loop bounded by a deadline.

Full jitter draws each delay uniformly from [0, min(cap, base * 2**attempt)]: clients that
failed together do not retry together, and the expected delay still doubles per attempt.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from client.errors import KafkaError, KafkaTimeoutError

__all__ = ["Backoff", "retry_until"]

T = TypeVar("T")


class Backoff:
    """Delays for successive attempts, in seconds: ``Backoff(100, 1000).delay(3)`` is uniform
    in [0, 0.8]."""

    def __init__(
        self, base_ms: float, max_ms: float, rng: Callable[[], float] = random.random
    ) -> None:
        if base_ms < 0 or max_ms < 0:
            raise ValueError("backoff times must not be negative")
        self.base_ms = base_ms
        self.max_ms = max(max_ms, base_ms)
        self._rng = rng

    def ceiling(self, attempt: int) -> float:
        """The largest delay (seconds) attempt number ``attempt`` (0-based) may wait."""
        # 2**attempt grows without bound; past 62 doublings the cap applies anyway
        return min(self.max_ms, self.base_ms * (1 << min(attempt, 62))) / 1000.0

    def delay(self, attempt: int) -> float:
        """A random delay (seconds) for attempt number ``attempt`` (0-based)."""
        return self._rng() * self.ceiling(attempt)


async def retry_until(
    operation: Callable[[], Awaitable[T]],
    *,
    deadline: float,
    backoff: Backoff,
    on_retriable: Callable[[KafkaError], Awaitable[None]] | None = None,
) -> T:
    """Await ``operation()`` until it succeeds, retrying retriable KafkaErrors with backoff.

    ``deadline`` is a ``trio.current_time()`` value. A non-retriable error is raised at once;
    once the deadline has passed, the last retriable error is raised (a KafkaTimeoutError if
    none occurred). ``on_retriable`` runs after each retriable failure (e.g. to refresh
    metadata) before the backoff sleep.
    """
    attempt = 0
    last: KafkaError | None = None
    while True:
        remaining = deadline - trio.current_time()
        if remaining <= 0:
            if last is not None:
                raise last
            raise KafkaTimeoutError("deadline passed before the operation could run")
        try:
            with trio.fail_after(remaining):
                return await operation()
        except trio.TooSlowError:
            if last is not None:
                raise last from None
            raise KafkaTimeoutError("operation did not finish before its deadline") from None
        except KafkaError as exc:
            if not exc.retriable:
                raise
            last = exc
            if on_retriable is not None:
                try:
                    await on_retriable(exc)
                except KafkaError as hook_exc:
                    if not hook_exc.retriable:
                        raise
            pause = backoff.delay(attempt)
            if trio.current_time() + pause >= deadline:
                raise
            attempt += 1
            await trio.sleep(pause)
