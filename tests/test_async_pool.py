"""AsyncHTTPConnection and AsyncConnectionPool over real loopback sockets.

The reuse rules hold for tasks as for threads: limits under a thousand concurrent tasks
(measured at the server), pool timeout, LIFO, expiry, the stale probe, the safe retry of the
keep-alive race, TLS resumption; and a task cancelled at any await (connect, TLS, send, wait,
body) closes its connection and frees its slot, while a cancelled waiter frees nothing it
did not hold. Each test runs its own event loop (``asyncio.run``), bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from conftest import MakeServer
from testserver import ReceivedRequest, Reply, ServerSide, TestServer

import keepalive
from keepalive import AsyncConnectionPool, AsyncHTTPConnection

T = TypeVar("T")
KiB = 1024
MiB = 1024 * KiB


def run(coro_fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro_fn(), timeout)

    return asyncio.run(bounded())


def consistent(pool: AsyncConnectionPool) -> dict[str, int]:
    stats = pool.stats()
    assert stats["opened"] - stats["closed"] == stats["idle"] + stats["active"], stats
    return stats


def naming(req: ReceivedRequest) -> bytes:
    return f"{req.method} {req.target} conn={req.connection}".encode()


def echo(req: ReceivedRequest, side: ServerSide) -> Reply:
    return Reply(200, body=naming(req) + req.body)


# -- the connection ---------------------------------------------------------------------------


def test_one_connection_carries_many_requests(server: TestServer) -> None:
    async def main() -> None:
        conn = AsyncHTTPConnection(server.host, server.port)
        for i in range(20):
            resp = await conn.request("GET", f"/n/{i}")
            async with resp:
                assert await resp.aread() == f"GET /n/{i} conn=1".encode()
                assert resp.reused == (i > 0)
        assert "IDLE" in repr(conn) and conn.is_reusable
        await conn.aclose()
        assert conn.is_closed

    run(main)
    assert server.connections == 1


def test_streaming_a_large_body_in_pieces(make_server: MakeServer) -> None:
    body = bytes(range(256)) * (4 * KiB)  # 1 MiB, read past h11 (direct path)
    srv = make_server(lambda req, side: Reply(200, body=body))

    async def main() -> None:
        conn = AsyncHTTPConnection(srv.host, srv.port)
        resp = await conn.request("GET", "/")
        pieces = [piece async for piece in resp.aiter_bytes(65536)]
        assert b"".join(pieces) == body and max(map(len, pieces)) == 65536
        assert conn.is_reusable
        resp = await conn.request("POST", "/", body=b"x" * (300 * KiB))
        assert len(await resp.aread()) == len(body)
        await conn.aclose()

    run(main)


def test_async_iterable_body_is_sent_chunked(server: TestServer) -> None:
    async def gen() -> Any:
        for piece in (b"one", b"two", b"three"):
            await asyncio.sleep(0)
            yield piece

    async def main() -> None:
        conn = AsyncHTTPConnection(server.host, server.port)
        resp = await conn.request("POST", "/up", body=gen())
        assert await resp.aread() == b"POST /up conn=1onetwothree"
        await conn.aclose()

    run(main)
    assert server.requests[0].chunked


def test_tls_sessions_are_resumed(
    tls_server: TestServer, client_ssl_context: ssl.SSLContext
) -> None:
    async def main() -> list[bool]:
        resumed = []
        for _ in range(3):
            conn = AsyncHTTPConnection(
                tls_server.host, tls_server.port, scheme="https", ssl_context=client_ssl_context
            )
            resp = await conn.request("GET", "/")
            await resp.aread()
            resumed.append(resp.timings.tls_resumed)
            await conn.aclose()
        return resumed

    assert run(main) == [False, True, True]
    assert tls_server.tls_resumed == [False, True, True]


def test_certificate_failure_is_a_tls_error(tls_server: TestServer) -> None:
    async def main() -> None:
        conn = AsyncHTTPConnection(tls_server.host, tls_server.port, scheme="https")
        with pytest.raises(keepalive.TLSError):
            await conn.request("GET", "/")
        assert conn.is_closed

    run(main)


def test_read_timeout_and_refused_connect(make_server: MakeServer) -> None:
    def stall(req: ReceivedRequest, side: ServerSide) -> None:
        time.sleep(1.0)
        return None

    srv = make_server(stall)
    listener = socket.create_server(("127.0.0.1", 0))
    dead_port = listener.getsockname()[1]
    listener.close()

    async def main() -> None:
        conn = AsyncHTTPConnection(srv.host, srv.port, timeout=keepalive.Timeout(0.2))
        with pytest.raises(keepalive.ReadTimeout):
            await conn.request("GET", "/")
        with pytest.raises(keepalive.ConnectError):
            await AsyncHTTPConnection("127.0.0.1", dead_port).request("GET", "/")

    run(main)


# -- the pool ------------------------------------------------------------------------------------


def test_a_thousand_tasks_respect_the_per_host_limit(make_server: MakeServer) -> None:
    srv = make_server(echo)

    async def main() -> dict[str, int]:
        async with AsyncConnectionPool(max_connections_per_host=10) as pool:

            async def one(i: int) -> bytes:
                resp = await pool.request("GET", f"{srv.url}/t{i}")
                return await resp.aread()

            bodies = await asyncio.gather(*(one(i) for i in range(1000)))
            assert all(body.startswith(b"GET /t") for body in bodies)
            return consistent(pool)

    stats = run(main, timeout=60)
    assert stats["requests"] == 1000 and stats["opened"] <= 10
    assert srv.max_open_connections <= 10, "the server saw more than 10 at once"
    assert srv.connections == stats["opened"]


def test_most_recently_released_goes_out_first(make_server: MakeServer) -> None:
    srv = make_server(echo)

    async def main() -> None:
        async with AsyncConnectionPool() as pool:
            a = await pool.request("GET", f"{srv.url}/a")
            b = await pool.request("GET", f"{srv.url}/b")
            await a.aread()
            await b.aread()  # b released last
            c = await pool.request("GET", f"{srv.url}/c")
            await c.aread()
            assert c.connection_id == b.connection_id

    run(main)


def test_pool_timeout_when_the_only_slot_is_held(server: TestServer) -> None:
    async def main() -> None:
        async with AsyncConnectionPool(
            max_connections_per_host=1, timeout=keepalive.Timeout(5, pool=0.2)
        ) as pool:
            held = await pool.request("GET", server.url)
            with pytest.raises(keepalive.PoolTimeout):
                await pool.request("GET", server.url)
            await held.aread()
            again = await pool.request("GET", server.url)
            await again.aread()
            assert again.reused
            consistent(pool)

    run(main)


def test_the_keep_alive_race_is_retried_for_get_not_post(make_server: MakeServer) -> None:
    def dies_on_reuse(req: ReceivedRequest, side: ServerSide) -> Reply | None:
        if req.index_on_connection > 1:
            side.close()
            return None
        return echo(req, side)

    srv = make_server(dies_on_reuse)

    async def main() -> None:
        async with AsyncConnectionPool() as pool:
            await (await pool.request("GET", f"{srv.url}/a")).aread()
            second = await pool.request("GET", f"{srv.url}/b")
            assert await second.aread() == b"GET /b conn=2"
            assert pool.stats()["retries"] == 1
            with pytest.raises(keepalive.ServerDisconnected):
                await pool.request("POST", f"{srv.url}/p", body=b"once")
            consistent(pool)

    run(main)
    assert [r.method for r in srv.requests].count("POST") == 1


def test_idle_connection_closed_by_the_server_is_discarded(make_server: MakeServer) -> None:
    def close_after(req: ReceivedRequest, side: ServerSide) -> None:
        side.send_reply(echo(req, side))
        side.close()

    srv = make_server(close_after)

    async def main() -> None:
        async with AsyncConnectionPool() as pool:
            first = await pool.request("GET", f"{srv.url}/1")
            await first.aread()
            await asyncio.sleep(0.1)  # the FIN arrives while idle
            second = await pool.request("GET", f"{srv.url}/2")
            await second.aread()
            assert not second.reused and pool.stats()["retries"] == 0

    run(main)


def test_keepalive_expiry_on_the_pools_clock(server: TestServer) -> None:
    now = [1000.0]

    async def main() -> None:
        async with AsyncConnectionPool(keepalive_expiry=5.0, clock=lambda: now[0]) as pool:
            first = await pool.request("GET", server.url)
            await first.aread()
            now[0] += 6.0
            second = await pool.request("GET", server.url)
            await second.aread()
            assert not second.reused and consistent(pool)["closed"] == 1

    run(main)


# -- cancellation at every await -------------------------------------------------------------


def assert_slot_free(pool: AsyncConnectionPool, url: str) -> Awaitable[None]:
    async def check() -> None:
        stats = consistent(pool)
        assert stats["active"] == 0, stats
        resp = await pool.request("GET", url)  # the one slot is free: no PoolTimeout
        assert (await resp.aread()).startswith(b"GET")

    return check()


def _stalling_server(make_server: MakeServer, phase: str) -> TestServer:
    release = threading.Event()

    def app(req: ReceivedRequest, side: ServerSide) -> Reply | None:
        if req.target == "/good":
            return echo(req, side)
        if phase == "wait":
            release.wait(5)
            return None
        side.send_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
        release.wait(5)
        return None

    def stall_send(side: ServerSide) -> bool:
        side.sock.settimeout(5)
        head = side.sock.recv(256)
        if b"/good" in head:
            return True
        release.wait(5)  # never reads the upload: the client's writes block
        return False

    srv = make_server(app, on_connect=stall_send if phase == "send" else None)
    srv.release = release  # type: ignore[attr-defined]
    return srv


@pytest.mark.parametrize("phase", ["send", "wait", "body"])
def test_cancelled_task_closes_its_connection_and_frees_the_slot(
    make_server: MakeServer, phase: str
) -> None:
    srv = _stalling_server(make_server, phase)
    good = make_server(echo)

    async def main() -> None:
        pool = AsyncConnectionPool(max_connections_per_host=1, timeout=keepalive.Timeout(5))
        try:

            async def victim() -> None:
                if phase == "send":
                    await pool.request("POST", f"{srv.url}/up", body=b"x" * (64 * MiB))
                elif phase == "wait":
                    await pool.request("GET", f"{srv.url}/wait")
                else:
                    resp = await pool.request("GET", f"{srv.url}/body")
                    await resp.aread()

            task = asyncio.ensure_future(victim())
            await asyncio.sleep(0.3)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await assert_slot_free(pool, f"{good.url}/good")
            stats = consistent(pool)
            assert stats["closed"] >= 1  # the cancelled connection was closed, not kept
            if phase != "send":
                # the same host's only slot is free again
                resp = await pool.request("GET", f"{srv.url}/good")
                await resp.aread()
        finally:
            srv.release.set()  # type: ignore[attr-defined]
            await pool.aclose()

    run(main)


def test_cancelled_during_connect_and_tls(tls_server: TestServer) -> None:
    # A listener whose accept queue is full drops our SYN: connect() hangs until cancelled.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(filler)
        # A TLS server that never answers the handshake: a plain listener.
        silent = socket.create_server(("127.0.0.1", 0))
        silent_port = silent.getsockname()[1]

        async def main() -> None:
            pool = AsyncConnectionPool(max_connections=1, timeout=keepalive.Timeout(5))
            try:
                for url in (f"http://127.0.0.1:{port}/", f"https://127.0.0.1:{silent_port}/"):
                    task = asyncio.ensure_future(pool.request("GET", url))
                    await asyncio.sleep(0.3)
                    assert not task.done()
                    task.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await task
                    stats = consistent(pool)
                    assert stats["active"] == 0 and stats["idle"] == 0, stats
                assert pool._open_total == 0  # the one slot of the whole pool is free
            finally:
                await pool.aclose()

        run(main)
        silent.close()
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_cancelled_waiter_frees_nothing_it_did_not_hold(server: TestServer) -> None:
    async def main() -> None:
        async with AsyncConnectionPool(
            max_connections_per_host=1, timeout=keepalive.Timeout(5)
        ) as pool:
            held = await pool.request("GET", f"{server.url}/held")
            waiter = asyncio.ensure_future(pool.request("GET", f"{server.url}/w"))
            other = asyncio.ensure_future(pool.request("GET", f"{server.url}/o"))
            await asyncio.sleep(0.1)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert consistent(pool)["active"] == 1  # the holder still holds it
            await held.aread()  # the wake-up goes to the remaining waiter
            resp = await asyncio.wait_for(other, 5)
            assert (await resp.aread()) == b"GET /o conn=1"
            assert consistent(pool)["active"] == 0

    run(main)
