"""The seam between the connection loop and a wire format.

The connection loop only splits frames, keeps order and enforces limits; a Dispatcher turns a
frame into a request and a request into response bytes. `broker.server.kafka` is the Kafka
dispatcher; tests drive the loop with a tiny fake one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from broker.server.context import RequestContext

Buffer = bytes | bytearray | memoryview


class Dispatcher(Protocol):
    """Decodes frames and handles requests for one wire format."""

    def decode(self, frame: memoryview) -> Any:
        """Parse one frame (size prefix removed) in the read loop, in arrival order.

        Any exception means the peer sent garbage: the connection closes with one log line.
        """
        ...

    async def handle(self, ctx: RequestContext, request: Any) -> Sequence[Buffer] | None:
        """Process a decoded request; return the response as chunks (size prefix included),
        or None to send nothing. Runs concurrently with other requests of the connection.

        An exception closes the connection (with one log line); a dispatcher that can answer
        with an error response should do so instead of raising.
        """
        ...
