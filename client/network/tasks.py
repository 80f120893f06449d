"""Background tasks owned by a client object rather than by the caller's nursery.

Connections need a reader task, producers a sender task, consumers a heartbeat task, yet the
public API lets an application write ``p = Producer(...); await p.start(); ...;
await p.close()`` without handing over a nursery. A :class:`TaskGroup` gives such objects a
place for their tasks: given a nursery (``async with`` usage) it starts them there; without
one it starts them as trio system tasks. Either way every task runs inside a cancel scope the
group owns, and :meth:`TaskGroup.aclose` cancels them all and waits until they have finished,
so no task outlives the object that started it.

Tasks must handle their own errors (deliver them to whoever waits on the result); an exception
that still escapes is logged here rather than crashing the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

__all__ = ["TaskGroup"]

log = logging.getLogger(__name__)


class TaskGroup:
    """Background tasks cancelled and awaited together by :meth:`aclose`."""

    def __init__(self, nursery: trio.Nursery | None = None) -> None:
        self._nursery = nursery
        self._scopes: set[trio.CancelScope] = set()
        self._idle = trio.Event()
        self._idle.set()
        self._closed = False

    @property
    def running(self) -> int:
        """How many tasks of this group have not finished yet."""
        return len(self._scopes)

    def start_soon(
        self, fn: Callable[..., Awaitable[Any]], *args: Any, name: str | None = None
    ) -> None:
        """Run ``fn(*args)`` in the background until it returns or the group is closed."""
        if self._closed:
            raise RuntimeError("task group is closed")
        scope = trio.CancelScope()
        self._scopes.add(scope)
        if self._idle.is_set():
            self._idle = trio.Event()
        task_name = name or getattr(fn, "__qualname__", repr(fn))
        if self._nursery is not None:
            self._nursery.start_soon(self._run, fn, args, scope, name=task_name)
        else:
            trio.lowlevel.spawn_system_task(self._run, fn, args, scope, name=task_name)

    async def _run(
        self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], scope: trio.CancelScope
    ) -> None:
        try:
            with scope:
                await fn(*args)
        except Exception:
            log.exception("background task %r failed", fn)
        finally:
            self._scopes.discard(scope)
            if not self._scopes:
                self._idle.set()

    async def aclose(self) -> None:
        """Cancel every task of the group and wait until all have finished."""
        self._closed = True
        for scope in list(self._scopes):
            scope.cancel()
        with trio.CancelScope(shield=True):
            await self._idle.wait()
