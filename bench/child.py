"""Run a load generator in a process of its own and get its result back.

Load generators run apart from the suite's process so that its progress display never holds
their GIL, and so that two of them (a producer and a consumer) truly run side by side.  The
child reports progress through a shared double (0..1) and its result or traceback through a
pipe; its stderr goes to a log file so client libraries' chatter stays off the display.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

_context = multiprocessing.get_context("spawn")
_progress_value: Any = None


def report_progress(fraction: float) -> None:
    """Tell the parent how far the current child's work is (0..1); no-op outside a child."""
    if _progress_value is not None:
        _progress_value.value = fraction


def _main(fn: Callable[..., Any], args: tuple, kwargs: dict, progress: Any, pipe: Connection,
          log_path: str | None) -> None:
    global _progress_value
    _progress_value = progress
    if log_path:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 2)
        os.close(fd)
    try:
        value = fn(*args, **kwargs)
        pipe.send(("ok", value, time.process_time()))
    except BaseException:  # noqa: BLE001 - the parent re-raises it
        pipe.send(("error", traceback.format_exc(), time.process_time()))
    finally:
        pipe.close()


class Child:
    """``fn(*args, **kwargs)`` running in a spawned process; :meth:`result` waits for it.

    After :meth:`result`, ``cpu_seconds`` is the CPU time the child used in all.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, log_path: str | None = None,
                 **kwargs: Any) -> None:
        self.progress = _context.Value("d", 0.0, lock=False)
        self._receive, send = _context.Pipe(duplex=False)
        self.process = _context.Process(
            target=_main, args=(fn, args, kwargs, self.progress, send, log_path)
        )
        self.process.start()
        send.close()
        self.cpu_seconds = 0.0

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self.process.pid is not None
        return self.process.pid

    def kill(self) -> None:
        """End the child at once if it still runs."""
        if self.process.is_alive():
            self.process.kill()
            self.process.join(10)

    def fraction(self) -> float:
        """The progress last reported by the child."""
        return float(self.progress.value)

    def poll(self) -> bool:
        """True once the result is ready to be read."""
        return self._receive.poll()

    def result(self, timeout: float, on_wait: Callable[[], None] | None = None) -> Any:
        """The function's return value; raises RuntimeError with the child's traceback."""
        deadline = time.monotonic() + timeout
        if on_wait is not None:
            on_wait()
        while not self._receive.poll(0.1):
            if on_wait is not None:
                on_wait()
            if not self.process.is_alive() and not self._receive.poll(0):
                raise RuntimeError(f"load generator died (exit code {self.process.exitcode})")
            if time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"load generator still running after {timeout:.0f} s")
        try:
            status, value, self.cpu_seconds = self._receive.recv()
        except EOFError as exc:
            raise RuntimeError(
                f"load generator died (exit code {self.process.exitcode})"
            ) from exc
        if on_wait is not None:
            on_wait()
        self.process.join(10)
        if status != "ok":
            raise RuntimeError(value.strip().splitlines()[-1] + "\n" + value)
        return value
