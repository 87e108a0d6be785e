"""nginx as the benchmark server (``--server nginx``), so figures can be checked against C.

The harness writes the whole configuration under a temporary directory: one worker pinned to
the server CPU, ``access_log off``, ``keepalive_requests`` and ``keepalive_timeout`` high, and
the same routes and bodies as the embedded server (``/small`` is 13 bytes, the large bodies
are sparse files read through ``sendfile``). TLS 1.3 with session tickets, so resuming
clients can resume.

Connections are counted with ``stub_status`` on a separate listener. Its ``accepts`` counter is
global and includes the status request's own connection, so a snapshot subtracts the status
connections made so far: two snapshots then differ by the benchmark connections only. nginx
cannot say which handshakes resumed, so those counters are ``None`` (clients that can tell,
the raw floor and keepalive, report it themselves). Its CPU time is read from ``/proc`` in
clock ticks, so it is only meaningful over a whole scenario.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

from .server import (
    ROUTES,
    SMALL_BODY,
    Certificates,
    ServerHandle,
    ServerStats,
    die_with_parent,
)

INSTALL_HINT = "apt-get update && apt-get install -y nginx"

CONFIG = """\
{user}
worker_processes 1;
{affinity}
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 16384; multi_accept on; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    open_file_cache max=64;
    default_type application/octet-stream;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    ssl_protocols TLSv1.3;
    ssl_session_tickets on;
    ssl_session_cache shared:bench:1m;
    server {{
        listen {host}:{http_port} reuseport backlog=4096;
        listen {host}:{https_port} ssl reuseport backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {www};
        location / {{ }}
    }}
    server {{
        listen {host}:{status_port};
        location / {{ stub_status; }}
    }}
}}
"""


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class NginxNotInstalled(RuntimeError):
    def __init__(self) -> None:
        super().__init__(f"--server nginx needs nginx on PATH; install it with: {INSTALL_HINT}")


class NginxServer(ServerHandle):
    """nginx in the foreground under a temporary prefix; closed with SIGQUIT then SIGKILL."""

    name = "nginx"

    def __init__(self, cpu: int | None = None) -> None:
        binary = shutil.which("nginx") or next(
            (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(p)), None
        )
        if binary is None:
            raise NginxNotInstalled()
        self.binary = binary
        self._tmp = tempfile.TemporaryDirectory(prefix="keepalive-bench-nginx-")
        root = self._tmp.name
        os.chmod(root, 0o755)  # nginx workers may run as another user and must read www/
        certs = Certificates(root)
        self.ca_path = certs.ca_path
        # Bodies live on tmpfs when there is one: sparse files there read as shared zero
        # pages, while holes in a disk file's page cache are filled on first read, which made
        # the first transfer of a run (whichever client came first) several times slower.
        shm = "/dev/shm"
        self._www_tmp = (tempfile.TemporaryDirectory(prefix="keepalive-bench-www-", dir=shm)
                         if os.path.isdir(shm) and os.access(shm, os.W_OK) else None)
        www = self._www_tmp.name if self._www_tmp else os.path.join(root, "www")
        os.makedirs(www, exist_ok=True)
        os.chmod(www, 0o755)
        for path, size in ROUTES.items():
            with open(os.path.join(www, path.lstrip("/")), "wb") as f:
                if path == "/small":
                    f.write(SMALL_BODY)
                else:
                    f.truncate(size)  # sparse: zeros without disk or memory
        self.http_port = free_port(self.host)
        self.https_port = free_port(self.host)
        self._status_port = free_port(self.host)
        config = CONFIG.format(
            user="user root;" if os.geteuid() == 0 else "",
            affinity=f"worker_cpu_affinity {1 << cpu:b};" if cpu is not None else "",
            dir=root, www=www, host=self.host, http_port=self.http_port, https_port=self.https_port,
            status_port=self._status_port, cert=certs.cert_path, key=certs.key_path,
        )
        conf_path = os.path.join(root, "nginx.conf")
        with open(conf_path, "w") as f:
            f.write(config)
        self._process = subprocess.Popen(
            [binary, "-p", root, "-c", conf_path, "-e", os.path.join(root, "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=die_with_parent,
        )
        self._status_queries = 0
        self._wait_ready()
        self.pids = (self._process.pid, *self._workers())

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"nginx exited at start: {err.strip()}")
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not answer on its status port within 10 s")

    def _workers(self) -> list[int]:
        workers = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == self._process.pid:
                    workers.append(int(entry))
        return workers

    def _cpu_ns(self) -> int:
        ticks = 0
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime + stime
        return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")

    def stats(self) -> ServerStats:
        conn = http.client.HTTPConnection(self.host, self._status_port, timeout=5)
        try:
            conn.request("GET", "/")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        self._status_queries += 1
        match = re.search(r"\s(\d+)\s+(\d+)\s+(\d+)\s*\nReading", text)
        if match is None:
            raise RuntimeError(f"unexpected stub_status page: {text!r}")
        accepts, _handled, requests = (int(g) for g in match.groups())
        # Each status query is one accepted connection and one request of its own.
        return ServerStats(
            connections=accepts - self._status_queries,
            requests=requests - self._status_queries,
            cpu_ns=self._cpu_ns() if self.pids else None,
        )

    def describe(self) -> dict[str, object]:
        version = subprocess.run([self.binary, "-v"], capture_output=True, text=True).stderr
        return {"name": self.name, "version": version.strip(), "workers": 1}

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(3)  # SIGQUIT: graceful shutdown
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stderr is not None:
            self._process.stderr.close()
        if self._www_tmp is not None:
            self._www_tmp.cleanup()
        self._tmp.cleanup()
