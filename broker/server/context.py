"""What a request handler knows about where its request came from, and the request-order gate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio


@dataclass(frozen=True)
class ConnectionInfo:
    """One client connection: a process-unique id, the peer address, the listener name."""

    id: int
    peer: str
    listener: str


class Turnstile:
    """Lets requests of one connection pass a section in request order.

    Requests run concurrently, but some work must happen in the order the client sent it, for
    example appends from pipelined produce requests to one partition. Request `n` may enter
    `ordered(n)` once every earlier request has left its ordered section or finished.
    """

    def __init__(self) -> None:
        self._low = 0  # every sequence number below this has been released
        self._released: set[int] = set()
        self._lot = trio.lowlevel.ParkingLot()

    async def wait_turn(self, seq: int) -> None:
        """Block until all requests before `seq` have been released."""
        while self._low < seq:
            await self._lot.park()

    def release(self, seq: int) -> None:
        """Request `seq` no longer holds back later ones (idempotent)."""
        if seq < self._low or seq in self._released:
            return
        self._released.add(seq)
        while self._low in self._released:
            self._released.remove(self._low)
            self._low += 1
        self._lot.unpark_all()


@dataclass
class RequestContext:
    """Passed to every handler: the connection, shared broker services, arrival facts."""

    connection: ConnectionInfo
    services: Any
    sequence: int
    received_at: float
    frame_size: int
    _turnstile: Turnstile = field(repr=False)

    @asynccontextmanager
    async def ordered(self) -> AsyncIterator[None]:
        """Run the block after the ordered blocks of this connection's earlier requests."""
        await self._turnstile.wait_turn(self.sequence)
        try:
            yield
        finally:
            self._turnstile.release(self.sequence)
