"""Writing one message given as several buffers, with ``writev`` and no joining copy.

Both sides of the protocol send frames whose record batches are large buffers of their own
(the SDK's Produce requests, the broker's Fetch responses); gathering them into one ``bytes``
would copy every batch once more.  A chunk may also be a slice of a file (a ``FileChunk``, the
broker's fetched batches): it goes from the page cache to the socket with ``os.sendfile``,
never through this process's memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, Union

import trio

from client.network.sockio import send_some

# Buffers per writev call; Linux accepts up to 1024 (IOV_MAX).
IOV_BATCH = 512


class FileChunk(Protocol):
    """Bytes of an open file, written by ``send_to`` (sendfile) instead of from memory."""

    def __len__(self) -> int:
        """Bytes in the slice."""
        ...

    def send_to(self, out_fd: int, sent: int = 0) -> int:
        """Write the bytes after the first ``sent`` to ``out_fd``; returns bytes written."""
        ...

    def to_bytes(self) -> bytes:
        """The bytes, read into memory (for streams that are not sockets)."""
        ...


Buffer = Union[bytes, bytearray, memoryview]
Chunk = Union[Buffer, FileChunk]
_BUFFERS = (bytes, bytearray, memoryview)  # any other chunk is a FileChunk


def chunk_size(chunk: Chunk) -> int:
    """Bytes ``chunk`` puts on the wire."""
    return chunk.nbytes if isinstance(chunk, memoryview) else len(chunk)


async def send_vectored(stream: trio.abc.SendStream, chunks: Sequence[Chunk]) -> int:
    """Write every chunk in order, with writev (and sendfile for file chunks) when the stream
    is a socket, resuming after partial sends; returns the bytes written.  OSError becomes
    trio.BrokenResourceError, and so does a file chunk that turns out shorter than it said.
    On a socket, a send the kernel takes at once does not yield (see ``sockio``)."""
    if not isinstance(stream, trio.SocketStream):
        if len(chunks) == 1 and isinstance(chunks[0], _BUFFERS):
            await stream.send_all(chunks[0])
            return chunk_size(chunks[0])
        data = b"".join(c if isinstance(c, _BUFFERS) else c.to_bytes() for c in chunks)
        await stream.send_all(data)
        return len(data)
    sock = stream.socket
    total = 0
    views: list[memoryview] = []
    try:
        for chunk in chunks:
            if isinstance(chunk, _BUFFERS):
                view = memoryview(chunk).cast("B")
                if view.nbytes:
                    views.append(view)
                    total += view.nbytes
                continue
            await _send_views(sock, views)
            views = []
            await _send_file(sock, chunk)
            total += len(chunk)
        await _send_views(sock, views)
    except OSError as exc:
        raise trio.BrokenResourceError(str(exc)) from exc
    return total


async def _send_views(sock: trio.socket.SocketType, views: list[memoryview]) -> None:
    i = 0
    while i < len(views):
        sent = await send_some(sock, views[i : i + IOV_BATCH])
        while sent:
            size = views[i].nbytes
            if sent >= size:
                sent -= size
                i += 1
            else:
                views[i] = views[i][sent:]
                sent = 0


async def _send_file(sock: trio.socket.SocketType, chunk: FileChunk) -> None:
    size = len(chunk)
    sent = 0
    fd = sock.fileno()
    await trio.lowlevel.checkpoint_if_cancelled()
    while sent < size:
        try:
            n = chunk.send_to(fd, sent)
        except BlockingIOError:
            await sock.wait_writable()
            continue
        if n == 0:
            # The file is shorter than the frame promised: the stream cannot be continued.
            raise trio.BrokenResourceError(f"file slice ended {size - sent} bytes early")
        sent += n
