"""Interoperability with the pip-installed servers: uvicorn (h11 and httptools), hypercorn,
gunicorn (gthread, with httpbin) and waitress, each with a 1 s idle timeout.

What each server does with idle connections and limits is in docs/servers.md; the measured
facts the expectations rest on are in ``PROFILES``.
"""

from __future__ import annotations

import http.client
import json

import pytest
import thirdparty

import keepalive

from .suite import Profile, ServerSuite, check_stats, generated, needs, new_id

TLS_AND_RACE = frozenset({"tls", "race"})

PROFILES = [
    # uvicorn and hypercorn close an idle connection exactly --timeout-keep-alive after the
    # response (asyncio call_later), with a FIN (close_notify first over TLS).
    Profile("uvicorn-h11", lambda tls: thirdparty.uvicorn_server(http="h11", tls=tls),
            close_window=(1.0, 1.0), tls_resumes=True, features=TLS_AND_RACE),
    Profile("uvicorn-httptools",
            lambda tls: thirdparty.uvicorn_server(http="httptools", tls=tls),
            close_window=(1.0, 1.0), tls_resumes=True, features=TLS_AND_RACE),
    # hypercorn says "Connection: close" on the keep_alive_max_requests-th response.
    Profile("hypercorn", lambda tls: thirdparty.hypercorn_server(tls=tls, max_requests=5),
            close_window=(1.0, 1.0), max_requests=5, tls_resumes=True, features=TLS_AND_RACE),
    # gthread reaps idle connections from a loop that wakes every second: 1-2 s. Each TLS
    # connection gets a new SSLContext, so its session tickets never resume.
    Profile("gunicorn", lambda tls: thirdparty.gunicorn_server(tls=tls),
            close_window=(1.0, 2.0), tls_resumes=False,
            features=TLS_AND_RACE | {"httpbin"}),
    # waitress closes channels idle past channel_timeout at its next cleanup: 1-2 s here.
    Profile("waitress", lambda tls: thirdparty.waitress_server(),
            close_window=(1.0, 2.0), features=frozenset({"race"})),
]


class TestPythonServers(ServerSuite):
    """The whole suite against each pip-installed server."""

    @needs("httpbin")
    @pytest.mark.timeout(60)
    def test_httpbin_routes_on_one_connection(self, profile: Profile,
                                              server: thirdparty.Server,
                                              session: keepalive.Session) -> None:
        """httpbin's own routes (JSON, gzip, chunked upload, streamed and empty responses)
        all travel over one kept-alive connection."""
        got = session.get(server.url + "/get", params={"a": "1"})
        assert got.status_code == 200 and got.json()["args"] == {"a": "1"}
        gz = session.get(server.url + "/gzip")
        assert gz.status_code == 200 and gz.json()["gzipped"] is True
        pieces = [b"piece-%03d;" % i for i in range(200)]
        anything = session.post(server.url + "/anything", data=generated(pieces),
                                headers={"X-Request-Id": new_id()})
        assert anything.status_code == 200
        assert anything.json()["data"] == b"".join(pieces).decode()
        streamed = session.get(server.url + "/stream-bytes/100000", params={"seed": "1"})
        assert streamed.status_code == 200 and len(streamed.content) == 100000
        empty = session.get(server.url + "/status/204")
        assert empty.status_code == 204 and empty.content == b""
        responses = [got, gz, anything, streamed, empty]
        assert len({r.connection_id for r in responses}) == 1
        assert [r.reused for r in responses] == [False, True, True, True, True]
        stats = session.pool.stats()
        check_stats(stats)
        assert stats["opened"] == 1 and stats["retries"] == 0, stats


@pytest.mark.timeout(60)
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_httpbin_launcher(tls: bool) -> None:
    """``thirdparty.httpbin_server`` (used by the Session tests) serves httpbin, over HTTPS
    with a CA that verifies, and keeps connections alive."""
    with thirdparty.httpbin_server(tls=tls, keep_alive=5) as server:
        assert server.url.startswith("https://" if tls else "http://")
        conn: http.client.HTTPConnection
        if tls:
            assert server.ca_path is not None
            conn = http.client.HTTPSConnection(server.host, server.port, timeout=10,
                                               context=server.ssl_context())
        else:
            assert server.ca_path is None
            conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        try:
            for _ in range(2):
                conn.request("GET", "/get")
                response = conn.getresponse()
                assert response.status == 200
                assert json.loads(response.read())["url"].endswith("/get")
                assert response.getheader("Connection") == "keep-alive"
        finally:
            conn.close()
    assert not server.is_running()
