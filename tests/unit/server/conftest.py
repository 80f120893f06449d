"""A tiny wire format for driving the connection loop without the Kafka codec.

A request frame is ASCII `<mode> <delay_ms> <tag>`:
  echo  - after delay_ms answer `re:<tag>`
  none  - after delay_ms answer nothing (like acks=0)
  fail  - after delay_ms raise inside the handler
  wait  - answer `re:<tag>` once the test sets the dispatcher's `release` event
Anything else fails to decode (a malformed request).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import pytest
import trio

from broker.server.context import RequestContext


def frame(payload: bytes) -> bytes:
    """Size prefix + payload."""
    return struct.pack(">i", len(payload)) + payload


class FakeDispatcher:
    """Implements the Dispatcher protocol for the fake format above."""

    def __init__(self) -> None:
        self.release = trio.Event()
        self.started: list[str] = []
        self.finished: list[str] = []

    def decode(self, data: memoryview) -> tuple[str, int, str]:
        mode, delay, tag = bytes(data).decode("ascii").split(" ")
        if mode not in ("echo", "none", "fail", "wait"):
            raise ValueError(f"unknown mode {mode!r}")
        return mode, int(delay), tag

    async def handle(self, ctx: RequestContext, request: Any) -> Sequence[bytes] | None:
        mode, delay, tag = request
        self.started.append(tag)
        await trio.sleep(delay / 1000)
        if mode == "wait":
            await self.release.wait()
        self.finished.append(tag)
        if mode == "fail":
            raise RuntimeError(f"handler failed on {tag}")
        if mode == "none":
            return None
        body = b"re:" + tag.encode()
        # Several chunks, as encode_response_chunks returns them.
        return [struct.pack(">i", len(body)), body[:3], body[3:]]


async def read_frames(stream: trio.abc.ReceiveStream, count: int) -> list[bytes]:
    """Read `count` size-prefixed frames; fewer if the stream ends first."""
    buf = bytearray()
    frames: list[bytes] = []
    while len(frames) < count:
        while len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[:4], "big"):
            size = int.from_bytes(buf[:4], "big")
            frames.append(bytes(buf[4 : 4 + size]))
            del buf[: 4 + size]
            if len(frames) == count:
                return frames
        data = await stream.receive_some(65536)
        if not data:
            break
        buf += data
    return frames


@pytest.fixture
def dispatcher() -> FakeDispatcher:
    return FakeDispatcher()


@pytest.fixture
def wire() -> Any:
    """Helpers for the fake format: wire.frame(payload), await wire.read_frames(stream, n)."""

    class Wire:
        pass

    w = Wire()
    w.frame = frame  # type: ignore[attr-defined]
    w.read_frames = read_frames  # type: ignore[attr-defined]
    return w
