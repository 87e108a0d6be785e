"""The few synchronisation primitives the pool needs, in a blocking and an asyncio flavour.

The pool's source is written once (``_async/pool.py``) and the blocking pool generated from
it (``tests/unasync.py``), which renames ``AsyncLock`` to ``Lock`` and ``AsyncWaiter`` to
``Waiter``. Bookkeeping never awaits, so within one event loop it needs no lock at all
(``AsyncLock`` is a no-op); threads need a real one. A waiter is a one-shot wake-up a
release hands to exactly one waiting request.
"""

from __future__ import annotations

import asyncio
import threading
import time
from types import TracebackType

__all__ = ["AsyncLock", "AsyncWaiter", "Lock", "Waiter", "async_sleep", "sleep"]

Lock = threading.Lock
sleep = time.sleep


async def async_sleep(seconds: float) -> None:
    """``time.sleep`` for the async pool (the generated blocking pool calls ``sleep``)."""
    await asyncio.sleep(seconds)


class AsyncLock:
    """A no-op lock: tasks of one event loop never interleave inside a block without
    an ``await``, and the pool's bookkeeping has none."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class Waiter:
    """A one-shot wake-up for a thread waiting on the pool."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def wait(self, timeout: float | None) -> bool:
        """True when woken, False when ``timeout`` passed first."""
        return self._event.wait(timeout)

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


class AsyncWaiter:
    """A one-shot wake-up for a task waiting on the pool."""

    __slots__ = ("_future", "_set")

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None
        self._set = False

    async def wait(self, timeout: float | None) -> bool:
        """True when woken, False when ``timeout`` passed first; cancellable."""
        if self._set:
            return True
        loop = asyncio.get_running_loop()
        future = self._future = loop.create_future()
        handle = None if timeout is None else loop.call_later(timeout, _time_up, future)
        try:
            await future
        finally:
            if handle is not None:
                handle.cancel()
        return self._set

    def set(self) -> None:
        self._set = True
        future = self._future
        if future is not None and not future.done():
            future.set_result(None)

    def is_set(self) -> bool:
        return self._set


def _time_up(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
