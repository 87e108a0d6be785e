"""Launchers for third-party HTTP servers on loopback, usable from any test.

Each launcher starts one real server as a child process on ``127.0.0.1`` and a free port,
waits until it answers HTTP (bounded), and returns a :class:`Server` with ``.url``,
``.ca_path`` (for https) and ``.stop()``. A server is also a context manager, so a pytest
fixture is two lines::

    @pytest.fixture(scope="module")
    def httpbin() -> Iterator[thirdparty.Server]:
        with thirdparty.httpbin_server(tls=True, keep_alive=5) as server:
            yield server

Launchers: :func:`uvicorn_server` (h11 or httptools), :func:`hypercorn_server`,
:func:`gunicorn_server` and :func:`httpbin_server` (gthread workers), :func:`waitress_server`,
:func:`nginx_server` and :func:`apache_server` (each fronting a waitress backend for the
dynamic routes). Unless told otherwise they serve the routes in ``tests/interop/apps.py``.

A missing package or executable raises :class:`MissingDependency` naming what to install; a
server that does not come up raises :class:`ServerStartError` with the tail of its log.
Nothing here skips a test.

How a server is started: pick a port by binding port 0 and closing it, start the server on
it with its stdout and stderr in a log file, and poll until a ``GET`` answers. Another
process may take the port between our close and the server's bind; the server then dies
with "address in use", and we try again on a new port (a few times).
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import importlib.util
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from certs import TLSFiles

REPO_ROOT = Path(__file__).resolve().parent.parent
APPS_DIR = REPO_ROOT / "tests" / "interop"
HOST = "127.0.0.1"

PIP_HINT = "run `.venv/bin/pip install -e '.[test]'` (or `make venv`)"
SYSTEM_HINT = ("run `make interop` as root (it runs "
               "`apt-get update && apt-get install -y nginx apache2`)")

READY_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
PORT_ATTEMPTS = 5
_IN_USE_MARKERS = ("address already in use", "eaddrinuse", "errno 98", "could not bind")


class MissingDependency(RuntimeError):
    """A server's package or executable is not installed; the message says how to get it."""


class ServerStartError(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


def make_tls_files(directory: Path) -> TLSFiles:
    """Write a fresh CA and a leaf certificate for ``127.0.0.1`` and ``localhost``."""
    require_module("trustme")  # MissingDependency, saying how to install it, when absent
    import certs

    return certs.write_server_files(certs.new_ca(), directory, "127.0.0.1", "localhost")


@dataclass(eq=False)
class Server:
    """One running server process. ``stop()`` is idempotent; ``with`` stops it on exit."""

    name: str
    scheme: str
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path
    log_path: Path
    tls: TLSFiles | None = None
    access_log: Path | None = None
    backend: Server | None = None
    info: dict[str, object] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return HOST

    @property
    def url(self) -> str:
        """``http[s]://127.0.0.1:PORT`` with no trailing slash."""
        return f"{self.scheme}://{HOST}:{self.port}"

    @property
    def ca_path(self) -> str | None:
        """The CA bundle that verifies this server's certificate (``None`` for plain HTTP)."""
        return self.tls.ca_path if self.tls else None

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the server's stdout and stderr."""
        return _tail(self.log_path, lines)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's CA (for raw probes)."""
        import certs

        assert self.ca_path is not None, f"{self.name} serves plain HTTP"
        return certs.client_context(self.ca_path)

    def stop(self) -> None:
        """Terminate, wait, kill if needed; then stop the backend and remove the files."""
        _stop_process(self.process)
        if self.backend is not None:
            self.backend.stop()
        with _RUNNING_LOCK:
            _RUNNING.discard(self)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else f"exited {self.process.returncode}"
        return f"<Server {self.name} {self.url} pid={self.pid} {state}>"


_RUNNING: set[Server] = set()
_RUNNING_LOCK = threading.Lock()


@atexit.register
def _stop_all() -> None:
    # Safety net for a test run that is interrupted before its fixtures tear down.
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for server in running:
        server.stop()


# --------------------------------------------------------------------------- plumbing


def require_module(name: str, hint: str = PIP_HINT) -> ModuleType:
    """Import ``name`` or raise :class:`MissingDependency` saying how to install it."""
    if importlib.util.find_spec(name) is None:
        raise MissingDependency(f"Python package {name!r} is not installed: {hint}")
    return importlib.import_module(name)


def require_executable(name: str, hint: str = SYSTEM_HINT) -> str:
    """The path of executable ``name`` (also looked for in /usr/sbin), or MissingDependency."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
    if found is None:
        raise MissingDependency(f"{name} is not installed: {hint}")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(APPS_DIR), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)
    # Workers of a pre-forking server live in the child's own process group (we started it
    # with start_new_session): make sure none outlives its parent.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _probe(scheme: str, port: int, path: str, context: ssl.SSLContext | None,
           timeout: float) -> int:
    """One ``GET path`` with ``Connection: close``; returns the status code."""
    conn: http.client.HTTPConnection
    if scheme == "https":
        conn = http.client.HTTPSConnection(HOST, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _wait_ready(server: Server, ready_path: str, deadline: float) -> None:
    """Poll until the server answers ``GET ready_path`` with any status below 500."""
    context = server.ssl_context() if server.scheme == "https" else None
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        if not server.is_running():
            raise _Died(server.log_tail())
        try:
            status = _probe(server.scheme, server.port, ready_path, context, timeout=2.0)
        except (OSError, http.client.HTTPException) as exc:
            last_error = exc
        else:
            if status < 500:
                return
            last_error = RuntimeError(f"GET {ready_path} answered {status}")
        time.sleep(0.05)
    raise ServerStartError(
        f"{server.name} did not answer GET {ready_path} on {server.url} within "
        f"{READY_TIMEOUT:.0f} s (last error: {last_error!r}); log tail:\n{server.log_tail()}")


class _Died(Exception):
    def __init__(self, tail: str) -> None:
        super().__init__(tail)
        self.tail = tail


def launch(name: str, argv_for: Callable[[int, Path], Sequence[str]], *,
           tls: bool = False, ready_path: str = "/conn", cwd: Path = APPS_DIR,
           env: dict[str, str] | None = None,
           prepare: Callable[[Path, int, TLSFiles | None], None] | None = None,
           ready_timeout: float = READY_TIMEOUT) -> Server:
    """Start ``argv_for(port, workdir)`` as a server and wait until it answers HTTP.

    ``prepare(workdir, port, tls_files)`` runs before each start (to write config files).
    Retries on a new port when the server reports the port in use.
    """
    workdir = Path(tempfile.mkdtemp(prefix=f"keepalive-{name}-"))
    tls_files = make_tls_files(workdir) if tls else None
    scheme = "https" if tls else "http"
    tail = ""
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        if prepare is not None:
            prepare(workdir, port, tls_files)
        log_path = workdir / "server.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                list(argv_for(port, workdir)), cwd=cwd, env=_child_env(env),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        server = Server(name, scheme, port, process, workdir, log_path, tls_files)
        with _RUNNING_LOCK:
            _RUNNING.add(server)
        try:
            _wait_ready(server, ready_path, time.monotonic() + ready_timeout)
        except _Died as died:
            _stop_process(process)
            with _RUNNING_LOCK:
                _RUNNING.discard(server)
            tail = died.tail
            if any(marker in tail.lower() for marker in _IN_USE_MARKERS):
                continue
            shutil.rmtree(workdir, ignore_errors=True)
            raise ServerStartError(
                f"{name} exited with status {process.returncode} before answering; "
                f"log tail:\n{tail}") from None
        except BaseException:
            server.stop()
            raise
        return server
    shutil.rmtree(workdir, ignore_errors=True)
    raise ServerStartError(f"{name}: port in use {PORT_ATTEMPTS} times; log tail:\n{tail}")


# --------------------------------------------------------------------------- Python servers


def uvicorn_server(*, http: str = "h11", tls: bool = False, keep_alive: int | None = 1,
                   app: str = "apps:asgi_app") -> Server:
    """uvicorn with its ``h11`` or ``httptools`` protocol, ``--timeout-keep-alive keep_alive``.

    ``keep_alive=None`` leaves uvicorn's default (5 s).
    """
    if http not in ("h11", "httptools"):
        raise ValueError(f"http must be 'h11' or 'httptools', not {http!r}")
    require_module("uvicorn")
    require_module(http)

    def argv(port: int, workdir: Path) -> list[str]:
        args = [sys.executable, "-m", "uvicorn", app, "--host", HOST, "--port", str(port),
                "--http", http, "--lifespan", "off", "--no-access-log",
                "--log-level", "warning", "--app-dir", str(APPS_DIR),
                "--timeout-graceful-shutdown", "2"]
        if keep_alive is not None:
            args += ["--timeout-keep-alive", str(keep_alive)]
        if tls:
            args += ["--ssl-certfile", str(workdir / "server.pem"),
                     "--ssl-keyfile", str(workdir / "server.key")]
        return args

    server = launch(f"uvicorn-{http}", argv, tls=tls)
    server.info.update(keep_alive=keep_alive, http=http)
    return server


def hypercorn_server(*, tls: bool = False, keep_alive: int | None = 1,
                     max_requests: int | None = None, app: str = "apps:asgi_app") -> Server:
    """hypercorn (asyncio worker, one process), ``--keep-alive keep_alive``.

    ``max_requests`` sets ``keep_alive_max_requests`` (requests per connection; default 1000).
    ``None`` leaves hypercorn's defaults (5 s, 1000 requests).
    """
    require_module("hypercorn")

    def prepare(workdir: Path, port: int, tls_files: TLSFiles | None) -> None:
        lines = ["graceful_timeout = 2"]
        if keep_alive is not None:
            lines.append(f"keep_alive_timeout = {keep_alive}")
        if max_requests is not None:
            lines.append(f"keep_alive_max_requests = {max_requests}")
        (workdir / "hypercorn.toml").write_text("\n".join(lines) + "\n")

    def argv(port: int, workdir: Path) -> list[str]:
        args = [sys.executable, "-m", "hypercorn", app, "--bind", f"{HOST}:{port}",
                "--config", str(workdir / "hypercorn.toml"), "--workers", "1",
                "--log-level", "warning"]
        if keep_alive is not None:
            args += ["--keep-alive", str(keep_alive)]
        if tls:
            args += ["--certfile", str(workdir / "server.pem"),
                     "--keyfile", str(workdir / "server.key")]
        return args

    server = launch("hypercorn", argv, tls=tls, prepare=prepare)
    server.info.update(keep_alive=keep_alive, max_requests=max_requests or 1000)
    return server


def gunicorn_server(*, app: str = "apps:wsgi_app_with_httpbin", tls: bool = False,
                    keep_alive: int | None = 1, threads: int = 8,
                    ready_path: str = "/conn") -> Server:
    """gunicorn, one ``gthread`` worker with ``threads`` threads, ``--keep-alive keep_alive``.

    ``keep_alive=None`` leaves gunicorn's default (2 s).

    The default app is ours with httpbin behind it for every other path.
    """
    require_module("gunicorn")
    if "httpbin" in app:
        require_module("httpbin")

    def argv(port: int, workdir: Path) -> list[str]:
        args = [sys.executable, "-m", "gunicorn", "--bind", f"{HOST}:{port}",
                "--worker-class", "gthread", "--workers", "1", "--threads", str(threads),
                "--graceful-timeout", "2", "--log-level", "warning",
                "--chdir", str(APPS_DIR), "--worker-tmp-dir", str(workdir)]
        if keep_alive is not None:
            args += ["--keep-alive", str(keep_alive)]
        if tls:
            args += ["--certfile", str(workdir / "server.pem"),
                     "--keyfile", str(workdir / "server.key")]
        return [*args, app]

    server = launch("gunicorn", argv, tls=tls, ready_path=ready_path)
    server.info.update(keep_alive=keep_alive, threads=threads, app=app)
    return server


def httpbin_server(tls: bool = False, keep_alive: int = 5) -> Server:
    """httpbin alone under gunicorn (gthread), over HTTP or HTTPS (``.ca_path`` then)."""
    return gunicorn_server(app="httpbin:app", tls=tls, keep_alive=keep_alive, ready_path="/get")


def waitress_server(*, channel_timeout: int | None = 1, cleanup_interval: int | None = 1,
                    threads: int = 8, app: str = "apps:wsgi_app") -> Server:
    """waitress (plain HTTP only); idle connections close after ``channel_timeout`` seconds.

    waitress checks idle channels every ``cleanup_interval`` seconds, so an idle connection
    actually closes between ``channel_timeout`` and ``channel_timeout + cleanup_interval``.
    ``None`` leaves waitress's defaults (120 s and 30 s).
    """
    require_module("waitress")

    def argv(port: int, workdir: Path) -> list[str]:
        args = [sys.executable, "-m", "waitress", f"--listen={HOST}:{port}",
                f"--threads={threads}", "--asyncore-loop-timeout=1"]
        if channel_timeout is not None:
            args.append(f"--channel-timeout={channel_timeout}")
        if cleanup_interval is not None:
            args.append(f"--cleanup-interval={cleanup_interval}")
        return [*args, app]

    server = launch("waitress", argv)
    server.info.update(channel_timeout=channel_timeout, cleanup_interval=cleanup_interval)
    return server


# --------------------------------------------------------------------------- system servers


def _write_htdocs(workdir: Path) -> Path:
    """Static copies of ``/big`` and ``/text`` for nginx and apache2 to serve themselves."""
    from interop import apps

    htdocs = workdir / "htdocs"
    htdocs.mkdir(exist_ok=True)
    (htdocs / "big").write_bytes(apps.big_body())
    (htdocs / "text").write_bytes(apps.TEXT_BODY)
    # Workers may run as an unprivileged user (apache2 as root must): let them read.
    for path in (workdir, htdocs):
        path.chmod(0o755)
    for path in htdocs.iterdir():
        path.chmod(0o644)
    return htdocs


def _backend() -> Server:
    """The waitress backend that serves /conn, /echo and /count behind nginx or apache2."""
    return waitress_server(channel_timeout=30, cleanup_interval=5)


NGINX_CONF = """\
worker_processes 1;
{user}
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    default_type text/plain;
    log_format keepalive '$remote_port $connection $connection_requests $request_method '
                         '$uri $status $http_x_request_id';
    access_log {workdir}/access.log keepalive;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    client_max_body_size 32m;
    sendfile on;
    {keepalive}
    gzip on;
    gzip_types text/plain;
    gzip_min_length 256;
    gzip_vary on;
    server {{
        listen {host}:{port}{ssl};
        server_name localhost;
        root {htdocs};
        {tls}
        add_header X-Peer-Port $remote_port always;
        add_header X-Conn-Requests $connection_requests always;
        location = /conn {{ return 200 "$remote_port\\n"; }}
        location = /big {{ default_type application/octet-stream; }}
        location = /text {{ }}
        location ~ ^/(echo|count)$ {{
            proxy_pass http://{host}:{backend_port};
            proxy_set_header X-Peer-Port $remote_port;
            proxy_hide_header X-Peer-Port;
            proxy_hide_header X-Conn-Requests;
        }}
    }}
}}
"""

NGINX_TLS = """ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:keepalive:1m;
        ssl_session_tickets on;"""


def nginx_server(*, tls: bool = False, keepalive_timeout: int | None = 1,
                 keepalive_header_timeout: int | None = 1,
                 keepalive_requests: int | None = 3) -> Server:
    """nginx in the foreground with ``keepalive_timeout`` and ``keepalive_requests`` set.

    ``keepalive_header_timeout`` is the second argument of ``keepalive_timeout``: the value
    nginx announces in ``Keep-Alive: timeout=N`` (``None``: send no ``Keep-Alive`` header).
    ``keepalive_timeout=None`` / ``keepalive_requests=None`` leave nginx's defaults (75 s,
    1000 requests, no ``Keep-Alive`` header).
    ``/conn``, ``/big`` and ``/text`` (gzip) are served by nginx itself; ``/echo`` and
    ``/count`` go to a waitress backend (``server.backend``). The access log
    (``server.access_log``) has one line per request:
    ``peer_port connection_serial requests_on_connection method uri status x-request-id``.
    """
    nginx = require_executable("nginx")
    backend = _backend()

    def prepare(workdir: Path, port: int, tls_files: TLSFiles | None) -> None:
        htdocs = _write_htdocs(workdir)
        tls_block = (NGINX_TLS.format(cert=tls_files.cert_path, key=tls_files.key_path)
                     if tls_files else "")
        keepalive = []
        if keepalive_timeout is not None:
            header = "" if keepalive_header_timeout is None else f" {keepalive_header_timeout}s"
            keepalive.append(f"keepalive_timeout {keepalive_timeout}s{header};")
        if keepalive_requests is not None:
            keepalive.append(f"keepalive_requests {keepalive_requests};")
        conf = NGINX_CONF.format(
            user="user root;" if os.geteuid() == 0 else "", workdir=workdir, htdocs=htdocs,
            host=HOST, port=port, ssl=" ssl" if tls_files else "", tls=tls_block,
            keepalive="\n    ".join(keepalive), backend_port=backend.port)
        (workdir / "nginx.conf").write_text(conf)

    def argv(port: int, workdir: Path) -> list[str]:
        return [nginx, "-e", "stderr", "-p", str(workdir), "-c", str(workdir / "nginx.conf"),
                "-g", "daemon off;"]

    try:
        server = launch("nginx", argv, tls=tls, prepare=prepare)
    except BaseException:
        backend.stop()
        raise
    server.backend = backend
    server.access_log = server.workdir / "access.log"
    server.info.update(keepalive_timeout=keepalive_timeout,
                       keepalive_header_timeout=keepalive_header_timeout,
                       keepalive_requests=keepalive_requests)
    return server


APACHE_MODULES = ("mpm_event", "authz_core", "mime", "headers", "deflate", "filter",
                  "proxy", "proxy_http", "ssl", "socache_shmcb", "log_config", "unixd")
APACHE_MODULE_DIR = Path("/usr/lib/apache2/modules")

APACHE_CONF = """\
ServerRoot "{workdir}"
DefaultRuntimeDir "{workdir}"
PidFile "{workdir}/apache2.pid"
ServerName 127.0.0.1
{modules}
{user}
Listen {host}:{port}
ErrorLog "{workdir}/error.log"
LogLevel warn
LogFormat "%{{remote}}p %k %m %U %>s %{{X-Request-Id}}i" keepalive
CustomLog "{workdir}/access.log" keepalive
StartServers 1
ServerLimit 1
ThreadsPerChild 32
MaxRequestWorkers 32
KeepAlive On
{keepalive}
TypesConfig /dev/null
DocumentRoot "{htdocs}"
<Directory "{htdocs}">
    Require all granted
</Directory>
<Location "/big">
    ForceType application/octet-stream
</Location>
<Location "/text">
    ForceType text/plain
</Location>
AddOutputFilterByType DEFLATE text/plain
Header setifempty X-Peer-Port "expr=%{{REMOTE_PORT}}"
RequestHeader set X-Peer-Port "expr=%{{REMOTE_PORT}}"
ProxyPass "/conn" "http://{host}:{backend_port}/conn"
ProxyPass "/echo" "http://{host}:{backend_port}/echo"
ProxyPass "/count" "http://{host}:{backend_port}/count"
{tls}
"""

APACHE_TLS = """SSLEngine on
SSLCertificateFile "{cert}"
SSLCertificateKeyFile "{key}"
SSLProtocol -all +TLSv1.2 +TLSv1.3
SSLSessionCache "shmcb:{workdir}/ssl_scache(512000)"
SSLSessionTickets on"""


def apache_server(*, tls: bool = False, keepalive_timeout: int | None = 1,
                  max_keepalive_requests: int | None = 4) -> Server:
    """apache2 (event MPM) in the foreground with ``KeepAliveTimeout`` and
    ``MaxKeepAliveRequests`` set.

    ``/big`` and ``/text`` (mod_deflate) are static; ``/conn``, ``/echo`` and ``/count`` are
    proxied to a waitress backend, which reports the client's port from ``X-Peer-Port``. The
    access log has ``peer_port keepalive_count method uri status x-request-id`` per request.
    ``None`` leaves apache2's defaults (5 s, 100 requests).
    """
    apache2 = require_executable("apache2")
    missing = [m for m in APACHE_MODULES if not (APACHE_MODULE_DIR / f"mod_{m}.so").exists()
               and m not in ("log_config", "unixd")]
    if missing:
        raise MissingDependency(f"apache2 modules {missing} not found in {APACHE_MODULE_DIR}: "
                                f"{SYSTEM_HINT}")
    backend = _backend()

    def prepare(workdir: Path, port: int, tls_files: TLSFiles | None) -> None:
        htdocs = _write_htdocs(workdir)
        modules = "\n".join(
            f"LoadModule {m}_module {APACHE_MODULE_DIR / f'mod_{m}.so'}" for m in APACHE_MODULES
            if (APACHE_MODULE_DIR / f"mod_{m}.so").exists())
        tls_block = (APACHE_TLS.format(cert=tls_files.cert_path, key=tls_files.key_path,
                                       workdir=workdir) if tls_files else "")
        user = "User www-data\nGroup www-data" if os.geteuid() == 0 else ""
        keepalive = []
        if keepalive_timeout is not None:
            keepalive.append(f"KeepAliveTimeout {keepalive_timeout}")
        if max_keepalive_requests is not None:
            keepalive.append(f"MaxKeepAliveRequests {max_keepalive_requests}")
        conf = APACHE_CONF.format(
            workdir=workdir, htdocs=htdocs, modules=modules, user=user, host=HOST, port=port,
            keepalive="\n".join(keepalive), backend_port=backend.port, tls=tls_block)
        (workdir / "apache2.conf").write_text(conf)

    def argv(port: int, workdir: Path) -> list[str]:
        return [apache2, "-f", str(workdir / "apache2.conf"), "-DFOREGROUND"]

    try:
        server = launch("apache2", argv, tls=tls, prepare=prepare)
    except BaseException:
        backend.stop()
        raise
    server.backend = backend
    server.access_log = server.workdir / "access.log"
    server.info.update(keepalive_timeout=keepalive_timeout,
                       max_keepalive_requests=max_keepalive_requests)
    return server
