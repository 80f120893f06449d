"""Writing one message given as several buffers, with ``sendmsg`` and no joining copy.

Both sides of the protocol send frames whose record batches are large buffers of their own
(the SDK's Produce requests, the broker's Fetch responses); gathering them into one ``bytes``
would copy every batch once more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import trio

# Buffers per sendmsg call; Linux accepts up to 1024 (IOV_MAX).
IOV_BATCH = 512

Buffer = Union[bytes, bytearray, memoryview]


async def send_vectored(stream: trio.abc.SendStream, chunks: Sequence[Buffer]) -> int:
    """Write every chunk in order, with sendmsg when the stream is a socket (resuming after
    partial sends); returns the bytes written. OSError becomes trio.BrokenResourceError."""
    if len(chunks) == 1:
        await stream.send_all(chunks[0])
        return memoryview(chunks[0]).nbytes
    views = [view for view in (memoryview(chunk).cast("B") for chunk in chunks) if view.nbytes]
    total = sum(view.nbytes for view in views)
    if not isinstance(stream, trio.SocketStream):
        await stream.send_all(b"".join(views))
        return total
    sock = stream.socket
    i = 0
    try:
        while i < len(views):
            sent = await sock.sendmsg(views[i : i + IOV_BATCH])
            while sent:
                size = views[i].nbytes
                if sent >= size:
                    sent -= size
                    i += 1
                else:
                    views[i] = views[i][sent:]
                    sent = 0
    except OSError as exc:
        raise trio.BrokenResourceError(str(exc)) from exc
    return total
