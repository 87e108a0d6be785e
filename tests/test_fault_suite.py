"""The fault suite: a hostile server under 16 threads x 100 requests on one Session.

Each request asks the loopback server for one behaviour: a good answer, a close or a reset
before answering, a stall past the read timeout, garbage, a head over 64 KiB, a close in the
middle of the body, a gzip bomb, endless interim responses. Whatever happens, every error is
a keepalive error, no descriptor leaks, ``stats()`` stays consistent, no connection is left
active, and a clean request afterwards is served. Then the same against AsyncSession with
hundreds of concurrent tasks.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from typing import Any

import pytest
from conftest import MakeServer
from testserver import ReceivedRequest, Reply, ServerSide

import keepalive

THREADS = 16
PER_THREAD = 100
READ_TIMEOUT = 0.3
BOMB = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)  # 64 MiB of zeros

FAULTS = ["good", "close", "reset", "stall", "garbage", "huge-head", "mid-body", "bomb", "interim"]


def hostile(req: ReceivedRequest, side: ServerSide) -> Reply | None:
    fault = req.target.strip("/").split("/")[0]
    if fault == "good":
        return Reply(200, body=b"fine")
    if fault == "close":
        side.close()
    elif fault == "reset":
        side.reset()
    elif fault == "stall":
        side.send_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
        time.sleep(READ_TIMEOUT * 2)
        side.close()
    elif fault == "garbage":
        side.send_raw(b"\x16\x03\x01 this is not HTTP at all\r\n\r\n")
        side.close()
    elif fault == "huge-head":
        side.send_raw(b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * (80 * 1024) + b"\r\n\r\n")
        side.close()
    elif fault == "mid-body":
        side.send_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000)
        side.close()
    elif fault == "bomb":
        return Reply(200, [("Content-Encoding", "gzip")], BOMB)
    elif fault == "interim":
        side.send_raw(b"HTTP/1.1 102 Processing\r\n\r\n" * 1000)
        side.close()
    return None


def consistent(stats: dict[str, int]) -> None:
    assert stats["opened"] - stats["closed"] == stats["idle"] + stats["active"], stats
    assert stats["active"] == 0, stats


def test_sixteen_threads_against_a_hostile_server(
    no_fd_leak: None, make_server: MakeServer
) -> None:
    srv = make_server(hostile)
    outcomes: dict[str, dict[str, int]] = {fault: {} for fault in FAULTS}
    foreign: list[BaseException] = []
    lock = threading.Lock()
    timeout = keepalive.Timeout(connect=5.0, read=READ_TIMEOUT, write=5.0, pool=30.0)
    with keepalive.Session(
        timeout=timeout, max_connections_per_host=8, max_decoded_size=1024 * 1024
    ) as s:

        def worker(index: int) -> None:
            for i in range(PER_THREAD):
                fault = FAULTS[(index + i) % len(FAULTS)]
                try:
                    r = s.get(f"{srv.url}/{fault}/{index}/{i}")
                    result = f"{r.status_code}"
                except keepalive.KeepaliveError as exc:
                    result = type(exc).__name__
                except BaseException as exc:  # a foreign error: the test fails on it
                    with lock:
                        foreign.append(exc)
                    continue
                with lock:
                    outcomes[fault][result] = outcomes[fault].get(result, 0) + 1

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(thread.is_alive() for thread in threads), "a request hung"
        assert not foreign, f"foreign exceptions escaped: {foreign[:3]!r}"
        consistent(s.pool.stats())
        assert s.get(f"{srv.url}/good/after").content == b"fine"
    assert outcomes["good"] == {"200": sum(outcomes["good"].values())}
    assert set(outcomes["stall"]) == {"ReadTimeout"}
    assert set(outcomes["huge-head"]) == {"RemoteProtocolError"}
    assert set(outcomes["bomb"]) == {"DecodingError"}
    assert set(outcomes["interim"]) == {"RemoteProtocolError"}
    assert set(outcomes["mid-body"]) <= {"RemoteProtocolError"}
    for fault in ("close", "reset", "garbage"):
        assert set(outcomes[fault]) <= {"ServerDisconnected", "RemoteProtocolError"}, fault
    assert sum(sum(c.values()) for c in outcomes.values()) == THREADS * PER_THREAD


def test_hundreds_of_tasks_against_a_hostile_server(
    no_fd_leak: None, make_server: MakeServer
) -> None:
    srv = make_server(hostile)
    timeout = keepalive.Timeout(connect=5.0, read=READ_TIMEOUT, write=5.0, pool=30.0)

    async def main() -> dict[str, int]:
        async with keepalive.AsyncSession(
            timeout=timeout, max_connections_per_host=8, max_decoded_size=1024 * 1024
        ) as s:

            async def one(i: int) -> str:
                fault = FAULTS[i % len(FAULTS)]
                try:
                    r = await s.get(f"{srv.url}/{fault}/{i}")
                except keepalive.KeepaliveError as exc:
                    return type(exc).__name__
                return str(r.status_code)

            results: list[Any] = await asyncio.gather(*(one(i) for i in range(450)))
            assert all(isinstance(result, str) for result in results)
            stats = s.pool.stats()
            consistent(stats)
            assert (await s.get(f"{srv.url}/good/after")).content == b"fine"
            return stats

    asyncio.run(asyncio.wait_for(main(), 120))


@pytest.mark.parametrize("fault", FAULTS[1:])
def test_each_fault_alone_leaves_the_pool_clean(
    no_fd_leak: None, make_server: MakeServer, fault: str
) -> None:
    srv = make_server(hostile)
    timeout = keepalive.Timeout(connect=5.0, read=READ_TIMEOUT, write=5.0, pool=5.0)
    with keepalive.Session(timeout=timeout, max_decoded_size=1024 * 1024) as s:
        with pytest.raises(keepalive.KeepaliveError):
            s.get(f"{srv.url}/{fault}")
        consistent(s.pool.stats())
        assert s.get(f"{srv.url}/good").content == b"fine"
