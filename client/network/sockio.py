"""Socket reads and writes that cost no trip through the scheduler when the kernel is ready.

trio's own socket methods yield to the scheduler once even when the call succeeds at once, and
twice when they first had to wait.  A connection loop already yields once per request, so for
small requests those extra passes were a fifth of a broker's CPU.  These helpers make the call
first and wait for readiness only when the kernel says it would block; the loops that call
them provide the schedule points.  Cancellation is still honoured on entry and while waiting.

``sock`` is a trio socket; a closed one fails with OSError (EBADF), like any other socket
error, and a wait cut short by closing raises trio.ClosedResourceError.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import trio


async def receive_some(sock: trio.socket.SocketType, max_bytes: int) -> bytes:
    """Up to ``max_bytes`` bytes as soon as any are there; b"" at end of stream."""
    await trio.lowlevel.checkpoint_if_cancelled()
    while True:
        try:
            return os.read(sock.fileno(), max_bytes)
        except BlockingIOError:
            await trio.lowlevel.wait_readable(sock)


async def receive_into(sock: trio.socket.SocketType, buffer: memoryview) -> int:
    """Bytes written at the start of ``buffer`` as soon as any are there; 0 at end of stream."""
    await trio.lowlevel.checkpoint_if_cancelled()
    while True:
        try:
            return os.readv(sock.fileno(), [buffer])
        except BlockingIOError:
            await trio.lowlevel.wait_readable(sock)


async def send_some(sock: trio.socket.SocketType, buffers: Sequence[memoryview]) -> int:
    """Write from ``buffers`` in order (one writev) once the socket takes any; bytes written."""
    await trio.lowlevel.checkpoint_if_cancelled()
    while True:
        try:
            return os.writev(sock.fileno(), buffers)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
