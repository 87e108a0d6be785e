"""Drive ``keepalive.AsyncSession`` through the blocking ``Session`` API, for suites that run
once per API.

``BlockingAsyncSession`` runs an ``AsyncSession`` on an event loop of its own, in a
background thread; every call is submitted to that loop and waited for, so a test written
against ``Session`` exercises the async code paths unchanged. Calls from several threads
become concurrent tasks on the one loop, which is how asyncio code shares a session.
Streamed responses are wrapped so ``iter_bytes``/``iter_lines``/``read``/``close`` drive
their async twins. One loop thread serves every adapter of a test run.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

import keepalive

T = TypeVar("T")
CALL_TIMEOUT = 120.0  # seconds; no test call may hang the suite


class _Loop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(CALL_TIMEOUT)

    def iterate(self, aiterator: AsyncIterator[T]) -> Iterator[T]:
        while True:
            try:
                yield self.call(aiterator.__anext__())
            except StopAsyncIteration:
                return



_shared: _Loop | None = None
_shared_lock = threading.Lock()


def _loop() -> _Loop:
    """One event loop thread for every adapter of the test run (started on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = _Loop()
        return _shared


class BlockingResponse:
    """A ``Response`` of the async API, read through the blocking method names."""

    def __init__(self, response: keepalive.Response, loop: _Loop) -> None:
        self._response = response
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        return getattr(self._response, name)

    def read(self) -> bytes:
        return self._loop.call(self._response.aread())

    @property
    def content(self) -> bytes:
        return self.read()

    @property
    def text(self) -> str:
        self.read()
        return self._response.text

    def json(self, **kwargs: Any) -> Any:
        self.read()
        return self._response.json(**kwargs)

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        return self._loop.iterate(self._response.aiter_bytes(chunk_size))

    iter_content = iter_bytes

    def iter_raw(self, chunk_size: int | None = None) -> Iterator[bytes]:
        return self._loop.iterate(self._response.aiter_raw(chunk_size))

    def iter_text(self, chunk_size: int | None = None) -> Iterator[str]:
        return self._loop.iterate(self._response.aiter_text(chunk_size))

    def iter_lines(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        return self._loop.iterate(self._response.aiter_lines(*args, **kwargs))

    def close(self) -> None:
        self._loop.call(self._response.aclose())

    def raise_for_status(self) -> BlockingResponse:
        try:
            self._response.raise_for_status()
        except keepalive.HTTPStatusError as exc:
            exc.response = self  # type: ignore[assignment]  # the object the test holds
            raise
        return self

    def __enter__(self) -> BlockingResponse:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class BlockingAsyncSession:
    """An ``AsyncSession`` behind the ``Session`` API (same arguments, same verbs)."""

    def __init__(self, **kwargs: Any) -> None:
        object.__setattr__(self, "_loop", _loop())

        async def make() -> keepalive.AsyncSession:
            return keepalive.AsyncSession(**kwargs)

        object.__setattr__(self, "async_session", self._loop.call(make()))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.async_session, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.async_session, name, value)  # s.max_redirects = 3 and the like

    def request(self, method: str, url: str, **kwargs: Any) -> BlockingResponse:
        response = self._loop.call(self.async_session.request(method, url, **kwargs))
        return BlockingResponse(response, self._loop)

    def get(self, url: str, **kwargs: Any) -> BlockingResponse:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> BlockingResponse:
        kwargs.setdefault("allow_redirects", False)
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> BlockingResponse:
        return self.request("OPTIONS", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> BlockingResponse:
        return self.request("DELETE", url, **kwargs)

    def post(self, url: str, data: Any = None, json: Any = None, **kwargs: Any) -> BlockingResponse:
        return self.request("POST", url, data=data, json=json, **kwargs)

    def put(self, url: str, data: Any = None, **kwargs: Any) -> BlockingResponse:
        return self.request("PUT", url, data=data, **kwargs)

    def patch(self, url: str, data: Any = None, **kwargs: Any) -> BlockingResponse:
        return self.request("PATCH", url, data=data, **kwargs)

    def close(self) -> None:
        self._loop.call(self.async_session.aclose())

    def __enter__(self) -> BlockingAsyncSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class BlockingRawResponse:
    """An ``AsyncRawResponse`` read through the blocking method names."""

    def __init__(self, raw: keepalive.AsyncRawResponse, loop: _Loop) -> None:
        self._raw = raw
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def read(self) -> bytes:
        return self._loop.call(self._raw.aread())

    def iter_raw(self, chunk_size: int | None = None) -> Iterator[bytes]:
        return self._loop.iterate(self._raw.aiter_raw(chunk_size))

    iter_bytes = iter_raw

    def close(self) -> None:
        self._loop.call(self._raw.aclose())

    def __enter__(self) -> BlockingRawResponse:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class BlockingAsyncPool:
    """An ``AsyncConnectionPool`` behind the ``ConnectionPool`` API."""

    def __init__(self, **kwargs: Any) -> None:
        self._loop = _loop()
        self.async_pool = keepalive.AsyncConnectionPool(**kwargs)

    @staticmethod
    def start_loop() -> None:
        """Start the shared loop thread now (its descriptors then predate a test's count)."""
        _loop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.async_pool, name)

    def request(self, method: str, url: str, **kwargs: Any) -> BlockingRawResponse:
        raw = self._loop.call(self.async_pool.request(method, url, **kwargs))
        return BlockingRawResponse(raw, self._loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine of this pool's world (e.g. a stream's wait) on its loop."""
        return self._loop.call(coro)

    def close(self) -> None:
        async def close() -> None:
            await self.async_pool.aclose()

        self._loop.call(close())

    def __enter__(self) -> BlockingAsyncPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
