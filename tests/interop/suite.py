"""The interoperability checks every real server goes through, written against the Session API.

A test module subclasses :class:`ServerSuite` (pytest collects the subclass) and lists its
servers as :class:`Profile` objects in ``PROFILES``; ``conftest.py`` runs each test once per
profile. A profile states what we measured about the server (see ``docs/servers.md``): when
it closes an idle connection, how many requests one connection may carry, whether TLS
sessions resume. The expectations below are computed from those facts and from the
``Keep-Alive`` hint the server actually sent, following the reuse rules of docs/design.md:

- a hint of ``timeout=1`` or less means the client keeps no connection (rule 5), so every
  request opens a new one;
- otherwise one connection carries at most the server's limit, and a server that says
  ``Connection: close`` on the last response costs no error and no retry.
"""

from __future__ import annotations

import hashlib
import http.client
import math
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from blocking_async import BlockingAsyncSession
from thirdparty import Server

import keepalive

from . import apps

IDLE_MARGIN = 0.5          # seconds past a server's idle close before we send again
RACE_LANES = 3             # sessions racing in parallel ...
RACE_ROUNDS = 10           # ... each this many times: 30 requests at the idle deadline
RACE_OFFSETS_MS = (-8, -4, -2, -1, 0, 1, 2, 4, 8, 12)
THREADS = 8
PER_THREAD = 100
THREAD_POOL_LIMIT = 4      # max_connections_per_host in the threads test
BIG_SHA256 = hashlib.sha256(apps.big_body()).hexdigest()


@dataclass(frozen=True)
class Profile:
    """One server under test and the facts about it the expectations are computed from."""

    name: str
    start: Callable[[bool], Server]            # start(tls) -> running server
    close_window: tuple[float, float]          # an idle connection closes this many s after
    #                                            its last response (measured min, max)
    max_requests: int | None = None            # requests one connection carries at most
    tls_resumes: bool = False                  # a second TLS connection resumes the session
    session_headers: Mapping[str, str] = field(default_factory=dict)
    features: frozenset[str] = frozenset()     # what @needs(...) selects on: "tls", "race", ...

    def __str__(self) -> str:
        return self.name


# Which API the suite runs against: "sync" (Session) or "async" (AsyncSession behind the
# blocking names, see tests/blocking_async.py); conftest's ``api`` fixture runs every test
# once per API.
API = {"name": "sync"}


def open_session(profile: Profile, verify: str | None = None,
                 **kwargs: Any) -> keepalive.Session:
    """A Session (or an AsyncSession driven through the same names) with the profile's
    default headers and a 10 s timeout."""
    options: dict[str, Any] = {"headers": dict(profile.session_headers), "timeout": 10.0}
    if verify is not None:
        # A context of its own: TLS sessions are saved per context, so an earlier test
        # (or the other API's run) cannot make this session's first connection resume.
        options["verify"] = ssl.create_default_context(cafile=verify)
    options.update(kwargs)
    if API["name"] == "async":
        return BlockingAsyncSession(**options)  # type: ignore[return-value]
    return keepalive.Session(**options)


# --------------------------------------------------------------------------- helpers


F = TypeVar("F", bound=Callable[..., Any])


def needs(*features: str) -> Callable[[F], F]:
    """Run the decorated test only for profiles that have all these features."""

    def mark(test: F) -> F:
        test.needs = frozenset(features)  # type: ignore[attr-defined]
        return test

    return mark




def check_conn(response: keepalive.Response) -> int:
    """Assert a ``/conn`` response is whole and consistent; return the server-side peer port."""
    assert response.status_code == 200, (response.status_code, response.content[:200])
    port = int(response.headers["X-Peer-Port"])
    assert response.content == b"%d\n" % port, response.content[:200]
    return port


def hint_timeout(response: keepalive.Response) -> int | None:
    """The ``timeout=`` of the response's ``Keep-Alive`` header, if any."""
    return keep_alive_params(response).get("timeout")


def keep_alive_params(response: keepalive.Response) -> dict[str, int]:
    """``Keep-Alive: timeout=1, max=3`` -> ``{"timeout": 1, "max": 3}``."""
    params: dict[str, int] = {}
    for part in (response.headers.get("Keep-Alive") or "").split(","):
        name, _, value = part.strip().partition("=")
        if value.strip().isdigit():
            params[name.strip().lower()] = int(value)
    return params


def per_connection(profile: Profile, hint: int | None) -> float:
    """How many requests a connection should carry: 1 under a hint of 1 s or less (the
    client keeps nothing), else the server's limit (``inf`` when it has none)."""
    if hint is not None and hint <= 1:
        return 1
    return profile.max_requests or math.inf


def connections_needed(requests: int, per: float) -> int:
    return 1 if math.isinf(per) else math.ceil(requests / per)


def run_lengths(ids: list[int]) -> list[int]:
    """Lengths of the runs of equal consecutive connection ids."""
    runs: list[int] = []
    for index, conn_id in enumerate(ids):
        if index and conn_id == ids[index - 1]:
            runs[-1] += 1
        else:
            runs.append(1)
    return runs


def server_count(server: Server, request_id: str) -> int:
    """How often ``/echo`` saw ``X-Request-Id: request_id``, asked over a side channel."""
    conn: http.client.HTTPConnection
    if server.scheme == "https":
        conn = http.client.HTTPSConnection(server.host, server.port, timeout=10,
                                           context=server.ssl_context())
    else:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", f"/count?id={request_id}", headers={"Connection": "close"})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 200, (response.status, body)
    return int(body)


def check_stats(stats: Mapping[str, int]) -> None:
    """The counters docs/design.md names exist and agree: open = idle + active."""
    for key in ("opened", "closed", "reused", "requests", "retries", "idle", "active"):
        assert key in stats, f"stats() lacks {key!r}: {stats}"
    assert stats["opened"] - stats["closed"] == stats["idle"] + stats["active"], stats


def check_clear_transport_error(exc: BaseException, server: Server) -> None:
    """A failure that reaches the user is a TransportError that names the host."""
    assert isinstance(exc, keepalive.TransportError), f"not a TransportError: {exc!r}"
    assert server.host in str(exc), f"message does not name the host: {exc!r}"


def close_wait_sockets(port: int) -> int:
    """Our sockets to ``127.0.0.1:port`` in CLOSE_WAIT: the server closed, we did not."""
    count = 0
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            remote_port = int(fields[2].split(":")[1], 16)
            if remote_port == port and fields[3] == "08":  # 08 = TCP_CLOSE_WAIT
                count += 1
    return count


def new_id() -> str:
    return uuid.uuid4().hex


def race_sleep(profile: Profile, k: int, total: int) -> float:
    """The k-th idle time of the race: across the close window, plus a few ms either way."""
    low, high = profile.close_window
    base = low + (high - low) * (k / max(total - 1, 1))
    return max(0.0, base + RACE_OFFSETS_MS[k % len(RACE_OFFSETS_MS)] / 1000)


def generated(pieces: list[bytes]) -> Iterator[bytes]:
    yield from pieces


# --------------------------------------------------------------------------- the suite


class ServerSuite:
    """The checks for one server; subclassed by each interop test module."""

    @pytest.mark.timeout(60)
    def test_sequential_gets(self, profile: Profile, server: Server,
                             session: keepalive.Session) -> None:
        """50 sequential GETs use one connection, or as many as the server's limit forces."""
        responses = [session.get(server.url + "/conn") for _ in range(50)]
        ports = [check_conn(r) for r in responses]
        ids = [r.connection_id for r in responses]
        per = per_connection(profile, hint_timeout(responses[0]))
        expected = connections_needed(50, per)
        assert len(set(ids)) == expected, run_lengths(ids)
        assert len(set(ports)) == expected, "server saw a different number of connections"
        assert all(run <= per for run in run_lengths(ids)), run_lengths(ids)
        assert [r.reused for r in responses] == [
            i > 0 and ids[i] == ids[i - 1] for i in range(len(ids))]
        stats = session.pool.stats()
        check_stats(stats)
        assert (stats["opened"], stats["requests"], stats["reused"], stats["retries"]) == (
            expected, 50, 50 - expected, 0), stats

    @pytest.mark.timeout(60)
    def test_idle_past_timeout_then_get_and_post(self, profile: Profile, server: Server,
                                                 session: keepalive.Session) -> None:
        """After idling past the server's close, GET and POST succeed, POST is sent once, and
        no retry was needed: the hint, or the stale check on the FIN, retired the socket."""
        first = session.get(server.url + "/conn")
        check_conn(first)
        time.sleep(profile.close_window[1] + IDLE_MARGIN)
        got = session.get(server.url + "/conn")
        check_conn(got)
        assert not got.reused and got.connection_id != first.connection_id
        assert close_wait_sockets(server.port) == 0, "the dead connection was left open"
        request_id = new_id()
        posted = session.post(server.url + "/echo", data=b"after idle",
                              headers={"X-Request-Id": request_id})
        assert posted.status_code == 200 and posted.content == b"after idle"
        assert posted.headers["X-Request-Count"] == "1"
        assert server_count(server, request_id) == 1
        stats = session.pool.stats()
        check_stats(stats)
        per = per_connection(profile, hint_timeout(first))
        assert stats["retries"] == 0, f"a dead connection was reused: {stats}"
        assert stats["opened"] == (2 if per >= 2 else 3), stats

    @needs("race")
    @pytest.mark.timeout(120)
    def test_race_at_idle_deadline(self, profile: Profile, server: Server) -> None:
        """30 requests sent when the server is closing the idle connection: no GET fails, no
        POST is duplicated, every failure the user sees is a TransportError naming the host."""
        total = RACE_LANES * RACE_ROUNDS
        payload = b"race" * 256

        def lane(index: int) -> dict[str, Any]:
            result: dict[str, Any] = {"gets": 0, "posts_ok": [], "posts_failed": [],
                                      "get_failures": []}
            with open_session(profile) as session:
                for round_ in range(RACE_ROUNDS):
                    k = index * RACE_ROUNDS + round_
                    check_conn(session.get(server.url + "/conn"))
                    time.sleep(race_sleep(profile, k, total))
                    if k % 2 == 0:
                        try:
                            check_conn(session.get(server.url + "/conn"))
                            result["gets"] += 1
                        except Exception as exc:
                            result["get_failures"].append(repr(exc))
                        continue
                    request_id = new_id()
                    try:
                        posted = session.post(server.url + "/echo", data=payload,
                                              headers={"X-Request-Id": request_id})
                    except Exception as exc:
                        result["posts_failed"].append((request_id, exc))
                    else:
                        assert posted.status_code == 200 and posted.content == payload
                        assert posted.headers["X-Request-Count"] == "1"
                        result["posts_ok"].append(request_id)
                result["stats"] = session.pool.stats()
            return result

        with ThreadPoolExecutor(RACE_LANES) as pool:
            results = list(pool.map(lane, range(RACE_LANES)))
        get_failures = [f for r in results for f in r["get_failures"]]
        assert not get_failures, f"GETs failed at the idle deadline: {get_failures}"
        for result in results:
            check_stats(result["stats"])
            for request_id in result["posts_ok"]:
                assert server_count(server, request_id) == 1, "POST duplicated"
            for request_id, exc in result["posts_failed"]:
                check_clear_transport_error(exc, server)
                assert server_count(server, request_id) <= 1, "failed POST was duplicated"
        failed = sum(len(r["posts_failed"]) for r in results)
        retries = sum(r["stats"]["retries"] for r in results)
        print(f"{profile.name}: race: {failed} POST failures (TransportError), "
              f"{retries} GET retries, of {total} requests")

    @pytest.mark.timeout(60)
    def test_max_requests_per_connection(self, profile: Profile, server: Server,
                                         session: keepalive.Session) -> None:
        """A connection is retired after the server's request limit, with no error or retry;
        POSTs near the limit are sent once. Without a limit, one connection carries all."""
        probe = session.get(server.url + "/conn")
        check_conn(probe)
        per = per_connection(profile, hint_timeout(probe))
        count = 60 if math.isinf(per) else int(3 * per)
        ids = [probe.connection_id]
        for index in range(1, count):
            if index % 2:
                request_id = new_id()
                r = session.post(server.url + "/echo", data=b"%d" % index,
                                 headers={"X-Request-Id": request_id})
                assert r.status_code == 200 and r.content == b"%d" % index
                assert r.headers["X-Request-Count"] == "1"
            else:
                r = session.get(server.url + "/conn")
                check_conn(r)
            ids.append(r.connection_id)
        runs = run_lengths(ids)
        if math.isinf(per):
            assert runs == [count], runs
        else:
            assert runs == [int(per)] * 3, runs
        stats = session.pool.stats()
        check_stats(stats)
        assert stats["retries"] == 0 and stats["opened"] == len(runs), stats

    @pytest.mark.timeout(60)
    def test_chunked_upload_from_generator(self, profile: Profile, server: Server,
                                           session: keepalive.Session) -> None:
        """A generator body goes up chunked, arrives whole, and the connection stays usable."""
        pieces = [bytes([i % 251]) * (1000 + 37 * i) for i in range(64)]
        request_id = new_id()
        r = session.post(server.url + "/echo", data=generated(pieces),
                         headers={"X-Request-Id": request_id})
        assert r.status_code == 200
        assert r.content == b"".join(pieces)
        assert r.headers["X-Body-Length"] == str(sum(map(len, pieces)))
        assert r.headers["X-Request-Count"] == "1"
        after = session.get(server.url + "/conn")
        check_conn(after)
        if per_connection(profile, hint_timeout(r)) > 1:
            assert after.reused and after.connection_id == r.connection_id

    @pytest.mark.timeout(60)
    def test_download_10_mib(self, profile: Profile, server: Server,
                             session: keepalive.Session) -> None:
        """10 MiB whole and streamed; the connection goes back to the pool after each."""
        whole = session.get(server.url + "/big")
        assert whole.status_code == 200 and len(whole.content) == apps.BIG_SIZE
        assert hashlib.sha256(whole.content).hexdigest() == BIG_SHA256
        digest = hashlib.sha256()
        size = 0
        with session.get(server.url + "/big", stream=True) as streamed:
            assert streamed.status_code == 200
            for chunk in streamed.iter_bytes(65536):
                digest.update(chunk)
                size += len(chunk)
        assert size == apps.BIG_SIZE and digest.hexdigest() == BIG_SHA256
        after = session.get(server.url + "/conn")
        check_conn(after)
        if per_connection(profile, hint_timeout(whole)) > 2:
            assert streamed.reused and after.reused
            assert whole.connection_id == streamed.connection_id == after.connection_id

    @pytest.mark.timeout(60)
    def test_early_close_of_streamed_response(self, profile: Profile, server: Server,
                                              session: keepalive.Session) -> None:
        """Closing a streamed response early drains a small remainder and keeps the
        connection; a large remainder (10 MiB) closes it instead. No error either way."""
        identity = {"Accept-Encoding": "identity"}
        with session.get(server.url + "/text", headers=identity, stream=True) as small:
            assert small.status_code == 200
            assert int(small.headers["Content-Length"]) == len(apps.TEXT_BODY)
            next(small.iter_bytes(60000))          # about 52 kB stay unread
        kept = session.get(server.url + "/conn")
        check_conn(kept)
        if per_connection(profile, hint_timeout(small)) > 1:
            assert kept.reused and kept.connection_id == small.connection_id
        with session.get(server.url + "/big", stream=True) as big:
            assert big.status_code == 200
            next(big.iter_bytes(65536))            # about 10 MiB stay unread
        fresh = session.get(server.url + "/conn")
        check_conn(fresh)
        assert not fresh.reused and fresh.connection_id != big.connection_id
        stats = session.pool.stats()
        check_stats(stats)
        assert stats["retries"] == 0, stats

    @pytest.mark.timeout(30)
    def test_head(self, profile: Profile, server: Server, session: keepalive.Session) -> None:
        """HEAD has a Content-Length and no body; the next response on the socket is intact."""
        head = session.head(server.url + "/big")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["Content-Length"] == str(apps.BIG_SIZE)
        after = session.get(server.url + "/conn")
        check_conn(after)
        if per_connection(profile, hint_timeout(head)) > 1:
            assert after.reused and after.connection_id == head.connection_id

    @pytest.mark.timeout(30)
    def test_expect_100_continue(self, profile: Profile, server: Server,
                                 session: keepalive.Session) -> None:
        """``Expect: 100-continue``: every server here answers 100 then 200; body sent once."""
        body = bytes(range(256)) * 256
        request_id = new_id()
        r = session.post(server.url + "/echo", data=body,
                         headers={"Expect": "100-continue", "X-Request-Id": request_id})
        assert r.status_code == 200 and r.content == body
        assert r.headers["X-Request-Count"] == "1"
        after = session.get(server.url + "/conn")
        check_conn(after)
        if per_connection(profile, hint_timeout(r)) > 1:
            assert after.reused and after.connection_id == r.connection_id

    @pytest.mark.timeout(30)
    def test_gzip(self, profile: Profile, server: Server, session: keepalive.Session) -> None:
        """A gzip response (the server's own or the app's) is decoded."""
        r = session.get(server.url + "/text", headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200
        assert r.headers["Content-Encoding"] == "gzip"
        assert r.content == apps.TEXT_BODY

    @pytest.mark.timeout(120)
    def test_threads(self, profile: Profile, server: Server) -> None:
        """8 threads x 100 requests on one Session: all right, never more than the per-host
        limit open, no connection past the server's request limit."""
        per_conn: dict[int, int] = {}
        peaks: list[int] = []
        lock = threading.Lock()
        with open_session(profile, max_connections_per_host=THREAD_POOL_LIMIT) as session:
            probe = session.get(server.url + "/conn")
            check_conn(probe)
            per = per_connection(profile, hint_timeout(probe))
            per_conn[probe.connection_id] = 1

            def worker(index: int) -> None:
                for n in range(PER_THREAD):
                    if n % 10 == 9:
                        body = b"%d-%d" % (index, n)
                        r = session.post(server.url + "/echo", data=body,
                                         headers={"X-Request-Id": new_id()})
                        assert r.status_code == 200 and r.content == body
                        assert r.headers["X-Request-Count"] == "1"
                    else:
                        r = session.get(server.url + "/conn")
                        check_conn(r)
                    stats = session.pool.stats()
                    with lock:
                        per_conn[r.connection_id] = per_conn.get(r.connection_id, 0) + 1
                        peaks.append(stats["idle"] + stats["active"])

            with ThreadPoolExecutor(THREADS) as pool:
                for future in [pool.submit(worker, i) for i in range(THREADS)]:
                    future.result(timeout=110)
            stats = session.pool.stats()
        total = THREADS * PER_THREAD + 1
        check_stats(stats)
        assert sum(per_conn.values()) == total
        assert stats["requests"] == total and stats["retries"] == 0, stats
        assert max(peaks) <= THREAD_POOL_LIMIT, f"{max(peaks)} connections open at once"
        assert max(per_conn.values()) <= per, "a connection outlived the server's limit"
        assert stats["opened"] == len(per_conn), stats
        if math.isinf(per):
            assert stats["opened"] <= THREAD_POOL_LIMIT, stats

    # ----------------------------------------------------------------------- TLS

    @needs("tls")
    @pytest.mark.timeout(60)
    def test_tls_reuse_and_resumption(self, profile: Profile, tls_server: Server,
                                      tls_session: keepalive.Session) -> None:
        """Over HTTPS: reused requests skip the handshake, and the second and later new
        connections resume the TLS session where the server can."""
        url = tls_server.url + "/conn"
        responses = [tls_session.get(url) for _ in range(3)]
        responses.append(tls_session.get(url, headers={"Connection": "close"}))
        responses += [tls_session.get(url) for _ in range(2)]
        for r in responses:
            check_conn(r)
        new = [r for r in responses if not r.reused]
        assert len(new) >= 2
        assert new[0].timings.tls > 0 and not new[0].timings.tls_resumed
        for r in new[1:]:
            assert r.timings.tls_resumed is profile.tls_resumes, (profile.name, r.timings)
        for r in responses:
            if r.reused:
                assert r.timings.tls == 0.0 and r.timings.connect == 0.0, r.timings
        if per_connection(profile, hint_timeout(responses[0])) > 1:
            assert responses[1].reused, "second request did not reuse the TLS connection"

    @needs("tls")
    @pytest.mark.timeout(60)
    def test_tls_download_and_upload(self, profile: Profile, tls_server: Server,
                                     tls_session: keepalive.Session) -> None:
        """10 MiB down and a chunked upload over TLS arrive whole."""
        r = tls_session.get(tls_server.url + "/big")
        assert r.status_code == 200
        assert hashlib.sha256(r.content).hexdigest() == BIG_SHA256
        pieces = [b"%05d" % i * 200 for i in range(100)]
        up = tls_session.post(tls_server.url + "/echo", data=generated(pieces),
                              headers={"X-Request-Id": new_id()})
        assert up.status_code == 200 and up.content == b"".join(pieces)

    @needs("tls")
    @pytest.mark.timeout(60)
    def test_tls_idle_past_timeout(self, profile: Profile, tls_server: Server,
                                   tls_session: keepalive.Session) -> None:
        """After the server closed an idle TLS connection (close_notify or bare FIN), the
        next GET and POST go out on a new connection without a retry."""
        check_conn(tls_session.get(tls_server.url + "/conn"))
        time.sleep(profile.close_window[1] + IDLE_MARGIN)
        got = tls_session.get(tls_server.url + "/conn")
        check_conn(got)
        assert not got.reused
        assert close_wait_sockets(tls_server.port) == 0, "the dead connection was left open"
        request_id = new_id()
        posted = tls_session.post(tls_server.url + "/echo", data=b"tls",
                                  headers={"X-Request-Id": request_id})
        assert posted.status_code == 200 and posted.content == b"tls"
        assert server_count(tls_server, request_id) == 1
        stats = tls_session.pool.stats()
        check_stats(stats)
        assert stats["retries"] == 0, stats
