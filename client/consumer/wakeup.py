"""A broadcast wake-up for tasks that wait for "something changed, look again".

Waiters check their condition and, if it does not hold, ``await signal.wait()`` with no
checkpoint in between; trio runs one task at a time, so a ``fire()`` cannot slip between the
check and the wait. Every waiter wakes on the next ``fire()``.
"""

from __future__ import annotations

import trio

__all__ = ["Signal"]


class Signal:
    """Wake every task currently waiting; later waiters wait for the next fire."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def fire(self) -> None:
        """Wake the current waiters."""
        self._event.set()
        self._event = trio.Event()

    async def wait(self, timeout: float = float("inf")) -> bool:
        """Wait for the next fire; False when ``timeout`` seconds passed first."""
        event = self._event
        with trio.move_on_after(timeout):
            await event.wait()
            return True
        return False
