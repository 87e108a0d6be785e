"""Interoperability with the system servers nginx and apache2 (``make interop``).

Both run as our own child processes on loopback ports with generated configs: nginx with
``keepalive_timeout 1s 1; keepalive_requests 3;`` and apache2 with ``KeepAliveTimeout 1``,
``MaxKeepAliveRequests 4``; plus a 3 s variant of each, where a ``Keep-Alive`` hint longer
than one second lets the client keep connections (docs/design.md, reuse rule 5). apache2 sends its
``Keep-Alive: timeout=N, max=M`` hint only to requests that say ``Connection: keep-alive``,
so the ``-ka`` profiles send that header. See docs/servers.md.
"""

from __future__ import annotations

import http.client
import time

import pytest
import thirdparty

from .suite import (
    Profile,
    ServerSuite,
    check_conn,
    check_stats,
    hint_timeout,
    keep_alive_params,
    needs,
    open_session,
)

KEEP_ALIVE = {"Connection": "keep-alive"}

PROFILES = [
    # nginx: Keep-Alive: timeout=1 on every kept response -> the client keeps nothing;
    # "Connection: close" on the 3rd response of a connection. Idle close at 1.0 s, FIN.
    Profile("nginx", lambda tls: thirdparty.nginx_server(tls=tls),
            close_window=(0.98, 1.0), max_requests=3, tls_resumes=True,
            features=frozenset({"race", "tls", "hint_always"})),
    Profile("nginx-3s", lambda tls: thirdparty.nginx_server(
                tls=tls, keepalive_timeout=3, keepalive_header_timeout=3),
            close_window=(2.98, 3.0), max_requests=3, tls_resumes=True,
            features=frozenset({"tls", "hint_long", "hint_always"})),
    # apache2 (event MPM): idle close 0.93-1.0 s after the response (its timer fires early),
    # FIN; 5 requests per connection with MaxKeepAliveRequests 4 (max=4,3,2,1 then close).
    Profile("apache2", lambda tls: thirdparty.apache_server(tls=tls),
            close_window=(0.92, 1.0), max_requests=5, tls_resumes=True,
            features=frozenset({"race", "tls"})),
    Profile("apache2-ka", lambda tls: thirdparty.apache_server(tls=tls),
            close_window=(0.92, 1.0), max_requests=5, session_headers=KEEP_ALIVE,
            features=frozenset({"hint_asked"})),
    Profile("apache2-3s-ka", lambda tls: thirdparty.apache_server(tls=tls, keepalive_timeout=3),
            close_window=(2.92, 3.0), max_requests=5, tls_resumes=True,
            session_headers=KEEP_ALIVE, features=frozenset({"tls", "hint_long", "hint_asked"})),
]


class TestSystemServers(ServerSuite):
    """The whole suite against nginx and apache2, plus their Keep-Alive hints."""

    @needs("hint_always")
    @pytest.mark.timeout(30)
    def test_nginx_hint_on_every_kept_response(self, profile: Profile,
                                               server: thirdparty.Server) -> None:
        """nginx announces its header timeout on every response but the last of a
        connection, which says ``Connection: close`` instead (read with a raw socket)."""
        hints = _raw_hints(server, 3)
        timeout = server.info["keepalive_header_timeout"]
        assert hints[:2] == [(f"timeout={timeout}", "keep-alive")] * 2, hints
        assert hints[2] == ("", "close"), hints

    @needs("hint_asked")
    @pytest.mark.timeout(30)
    def test_apache_counts_down_max(self, profile: Profile, server: thirdparty.Server) -> None:
        """apache2 answers ``Connection: keep-alive`` with ``timeout=N, max=4..1``, then
        ``Connection: close``; the Session honours it without errors or retries."""
        timeout = server.info["keepalive_timeout"]
        hints = _raw_hints(server, 5, ask=True)
        assert [h for h, _ in hints[:4]] == [f"timeout={timeout}, max={m}" for m in (4, 3, 2, 1)]
        assert hints[4] == ("", "close"), hints
        assert _raw_hints(server, 1)[0][0] == "", "apache2 hinted without being asked"
        with open_session(profile) as session:
            responses = [session.get(server.url + "/conn") for _ in range(10)]
            for r in responses:
                check_conn(r)
            assert keep_alive_params(responses[0]) == {"timeout": timeout, "max": 4}
            stats = session.pool.stats()
        check_stats(stats)
        assert stats["retries"] == 0, stats

    @needs("hint_long")
    @pytest.mark.timeout(30)
    def test_hint_retires_before_server_closes(self, profile: Profile,
                                               server: thirdparty.Server) -> None:
        """With ``Keep-Alive: timeout=3`` the connection is still used after 1 s idle, and
        retired (about 1 s before the server's deadline) after 2.5 s: new connection, no
        retry, although the server would still have accepted it until 3 s."""
        with open_session(profile) as session:
            first = session.get(server.url + "/conn")
            check_conn(first)
            assert hint_timeout(first) == 3
            time.sleep(1.0)
            kept = session.get(server.url + "/conn")
            check_conn(kept)
            assert kept.reused and kept.connection_id == first.connection_id
            time.sleep(2.5)
            fresh = session.get(server.url + "/conn")
            check_conn(fresh)
            assert not fresh.reused and fresh.connection_id != first.connection_id
            stats = session.pool.stats()
        check_stats(stats)
        assert stats["retries"] == 0 and stats["opened"] == 2, stats


def _raw_hints(server: thirdparty.Server, count: int,
               ask: bool = False) -> list[tuple[str, str]]:
    """(Keep-Alive, Connection) of ``count`` GETs on one raw connection."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    hints = []
    try:
        for _ in range(count):
            conn.request("GET", "/conn", headers=KEEP_ALIVE if ask else {})
            response = conn.getresponse()
            response.read()
            hints.append((response.getheader("Keep-Alive") or "",
                          (response.getheader("Connection") or "").lower()))
    finally:
        conn.close()
    return hints
