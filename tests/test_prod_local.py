"""`make prod-local`, tested: nginx in front of two app processes under supervisord.

The stack is brought up by scripts/prod.sh, the script behind ``make prod-local`` /
``prod-stop`` / ``prod-reload``, with its settings pointed at this test: its own state
directory under pytest's tmp, free loopback ports, a throw-away database and this
process's Redis db. It runs with IHOME_ENV=production, so bcrypt is at cost 12 and a
cookie secret and data key are generated into the state directory.

Which process answered a request is read from nginx's access log, whose ``upstream=``
field names the process(es) nginx asked (two when it retried on another). Every client
request opens its own connection, so no client ever reuses a kept-alive connection that
nginx closes while it reloads. Skipped when nginx or supervisor is missing and this user
may not install them (the script installs them with apt-get as root).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import pytest

from models import users as users_model
from models.db import create_database
from tests.utils import factories, testdb

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "prod.sh"
PROCESSES = 2
MOBILE = "13912345678"


def _installed(name: str) -> bool:
    return bool(shutil.which(name) or Path(f"/usr/sbin/{name}").exists() or Path(f"/usr/bin/{name}").exists())


pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0 and not (_installed("nginx") and _installed("supervisord")),
        reason="nginx and supervisor are not installed (apt-get install nginx-light supervisor)"),
    # One worker brings the stack up once for the whole module (make test: --dist loadgroup).
    pytest.mark.xdist_group("prod_local"),
]


def _free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> int:
    """The first of *count* consecutive free loopback ports."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            first = sock.getsockname()[1]
        if first + count < 65000 and all(_free(first + i) for i in range(count)):
            return first
    raise RuntimeError(f"no {count} consecutive free ports")


def _running(pid: int) -> bool:
    """True while *pid* exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


class Stack:
    """The running stack: its nginx port, app ports, state directory and the script's environment."""

    def __init__(self, state_dir: Path, port: int, app_ports: list[int], env: dict):
        self.dir = state_dir
        self.port = port
        self.app_ports = app_ports
        self.env = env

    def script(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
        return subprocess.run([str(SCRIPT), *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def status(self) -> dict:
        """``scripts/prod.sh status --json``: {"ok", "nginx_pid", "processes": {port: {"pid", "healthy"}}}."""
        return json.loads(self.script("status", "--json", timeout=60).stdout)

    def pids(self) -> dict[int, int | None]:
        return {int(port): p["pid"] for port, p in self.status()["processes"].items()}

    def access_log(self, marker: str) -> list[tuple[int, list[str]]]:
        """(status, upstream addresses) of each logged request whose URL contains *marker*."""
        found = []
        path = self.dir / "logs" / "access.log"
        for line in path.read_text().splitlines() if path.exists() else []:
            match = re.search(r'"GET (\S+) HTTP/1\.1" (\d+) .* upstream=(.*) upstream_status=', line)
            if match and marker in match.group(1):
                found.append((int(match.group(2)), [a.strip() for a in match.group(3).split(",")]))
        return found

    def wait_for_log(self, marker: str, predicate, timeout: float = 20.0) -> list[tuple[int, list[str]]]:
        """The log lines for *marker* once *predicate(lines)* holds (nginx flushes its log every second)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.access_log(marker)
            if predicate(lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.2)


def _create_user(settings) -> str:
    """An account (mobile MOBILE, password factories.PASSWORD) in the stack's database; returns its name."""
    async def run() -> str:
        db = await create_database(settings)
        try:
            hashed = await factories.password_hash(4)  # checked at its own cost; what matters is the session
            async with db.transaction() as tx:
                user_id = await users_model.create(tx, MOBILE, hashed)
            return (await db.queryone("SELECT name FROM users WHERE id = %s", user_id))["name"]
        finally:
            await db.close()
    return asyncio.run(run())


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """prod-local brought up by scripts/prod.sh start on free ports; always stopped and checked gone."""
    state_dir = tmp_path_factory.mktemp("prod")
    with testdb.throwaway_database(f"ihome_test_prod_{os.getpid()}",
                                   redis_db=testdb.redis_db_number()) as settings:
        name = _create_user(settings)
        port, first_app = _free_ports(1), _free_ports(PROCESSES)
        while first_app <= port < first_app + PROCESSES:
            first_app = _free_ports(PROCESSES)
        env = {k: v for k, v in os.environ.items() if not k.startswith("IHOME_")}
        env.update(
            IHOME_PROD_DIR=str(state_dir), IHOME_PROD_PORT=str(port), IHOME_PROD_APP_PORT=str(first_app),
            IHOME_PROCESSES=str(PROCESSES), IHOME_PROD_SEED="none",
            IHOME_PROD_MYSQL_URL=settings.mysql_url, IHOME_PROD_REDIS_URL=settings.redis_url,
            # The test's servers are up already: scripts/services.sh must not start others.
            IHOME_MYSQL_URL=settings.mysql_url, IHOME_REDIS_URL=settings.redis_url,
            IHOME_IPLOOKUP_URL="http://127.0.0.1:9/{ip}",
        )
        running = Stack(state_dir, port, [first_app + i for i in range(PROCESSES)], env)
        running.user_name = name
        try:
            started = running.script("start")
            assert started.returncode == 0, started.stderr
            yield running
        finally:
            stopped = running.script("stop", timeout=120)
            state = state_dir / "state.json"
            leftovers = []
            for pid_file in ("nginx.pid", "supervisord.pid"):
                try:
                    pid = int((state_dir / pid_file).read_text())
                except (FileNotFoundError, ValueError):
                    continue
                if _running(pid):
                    leftovers.append(pid_file)
            assert stopped.returncode == 0, stopped.stderr
            assert not leftovers, f"still running after prod.sh stop: {leftovers}"
            if state.exists():
                assert all(_free(p) for p in [port, *running.app_ports]), "a port is still held after stop"


def _request(port: int, method: str, path: str, *, body: bytes | None = None,
             headers: dict | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Connection": "close", **(headers or {})})
        response = conn.getresponse()
        response.body = response.read()
        return response
    finally:
        conn.close()


def _cookies(response: http.client.HTTPResponse, jar: dict) -> None:
    for value in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = value.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]


class Load:
    """Threads that GET *path* through nginx (a new connection each) until stopped; every answer counted."""

    def __init__(self, port: int, path: str, threads: int = 2):
        self.port, self.path = port, path
        self.answers: Counter = Counter()
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                answer = _request(self.port, "GET", self.path).status
            except OSError as exc:
                answer = f"{type(exc).__name__}: {exc}"
            with self.lock:
                self.answers[answer] += 1

    def count(self) -> int:
        with self.lock:
            return sum(self.answers.values())

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def __enter__(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(60)


def _login(stack: Stack) -> str:
    """Log the test's account in through nginx (the form, its XSRF cookie, bcrypt); the Cookie header after it."""
    jar: dict[str, str] = {}
    _cookies(_request(stack.port, "GET", "/login"), jar)
    form = urllib.parse.urlencode({"mobile": MOBILE, "password": factories.PASSWORD, "next": "/profile",
                                   "_xsrf": jar["_xsrf"]}).encode()
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    response = _request(stack.port, "POST", "/login", body=form,
                        headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 302, response.body[:500]
    assert response.getheader("Location") == "/profile"
    _cookies(response, jar)
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def test_a_login_through_nginx_holds_on_every_process(stack):
    cookie = _login(stack)
    for i in range(30):
        page = _request(stack.port, "GET", f"/profile?probe=login-{i}", headers={"Cookie": cookie})
        assert page.status == 200, (i, page.status, page.getheader("Location"))
        assert stack.user_name in page.body.decode(), i
    lines = stack.wait_for_log("probe=login-", lambda found: len(found) >= 30)
    assert len(lines) == 30
    answered = {addrs[-1] for _, addrs in lines}
    assert answered == {f"127.0.0.1:{p}" for p in stack.app_ports}, answered


def test_a_killed_process_loses_no_get_and_comes_back(stack):
    victim = stack.app_ports[0]
    before = stack.pids()
    with Load(stack.port, "/houses?probe=kill-before", threads=1) as load:
        load.wait_for(20)
        os.kill(before[victim], signal.SIGKILL)
        # From here on an answer from the victim's port can only come from its successor.
        load.path = "/houses?probe=kill-after"
        # supervisord starts a new process; nginx sends it requests again once it answers and
        # the failure has aged out (fail_timeout, 10 s).
        back = stack.wait_for_log(
            "probe=kill-after",
            lambda found: any(addrs == [f"127.0.0.1:{victim}"] and status == 200 for status, addrs in found),
            timeout=60)
    assert load.answers and set(load.answers) == {200}, load.answers
    after = stack.pids()
    assert after[victim] not in (None, before[victim])
    assert any(addrs == [f"127.0.0.1:{victim}"] for _, addrs in back), "the restarted process got no request"
    # The requests nginx sent to the dead process went on to the other one.
    logged = stack.access_log("probe=kill-")
    retried = [addrs for _, addrs in logged if len(addrs) > 1]
    assert retried and all(addrs[0] == f"127.0.0.1:{victim}" for addrs in retried), logged
    assert all(status == 200 for status, _ in logged)


def test_reload_restarts_every_process_and_answers_every_request(stack):
    before = stack.pids()
    with Load(stack.port, "/houses?probe=reload", threads=1) as load:
        load.wait_for(10)
        reloaded = stack.script("reload", timeout=180)
        at_end = load.count()
        load.wait_for(at_end + 10)
    assert reloaded.returncode == 0, reloaded.stderr
    after = stack.pids()
    assert all(after[p] not in (None, before[p]) for p in stack.app_ports), (before, after)
    assert set(load.answers) == {200}, load.answers
    lines = stack.wait_for_log("probe=reload", lambda found: len(found) >= load.count())
    # Both processes served during the reload.
    assert {addrs[-1] for _, addrs in lines} == {f"127.0.0.1:{p}" for p in stack.app_ports}
    assert all(status == 200 for status, _ in lines)


def test_websocket_upgrades_through_nginx(stack):
    cookie = _login(stack)
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", stack.port), timeout=30) as sock:
        sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{stack.port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                      f"Origin: http://127.0.0.1:{stack.port}\r\nCookie: {cookie}\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    status_line, *header_lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    assert status_line.split()[1] == "101", status_line
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    expected = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    assert headers["sec-websocket-accept"] == expected.decode()
    assert headers["upgrade"].lower() == "websocket"


def test_static_files_come_from_nginx_compressed_and_cached(stack):
    response = _request(stack.port, "GET", "/static/css/site.css?v=1", headers={"Accept-Encoding": "gzip"})
    assert response.status == 200
    assert response.getheader("Server") == "nginx"  # the app says "ihome"
    assert response.getheader("Content-Encoding") == "gzip"
    assert response.getheader("Cache-Control") == "max-age=31536000"  # versioned by static_url: a year
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    brotli = _request(stack.port, "GET", "/static/css/site.css?v=1", headers={"Accept-Encoding": "br, gzip"})
    assert brotli.status == 200 and brotli.getheader("Content-Encoding") == "br"
    bare = _request(stack.port, "GET", "/static/css/site.css")
    assert bare.getheader("Cache-Control") == "max-age=3600" and bare.getheader("Content-Encoding") is None
    # Pages are compressed too (by the app, passed through by nginx), and vary on the encoding.
    page = _request(stack.port, "GET", "/login", headers={"Accept-Encoding": "gzip"})
    assert page.status == 200 and page.getheader("Content-Encoding") == "gzip"
    assert "Accept-Encoding" in page.getheader("Vary")
    health = _request(stack.port, "GET", "/healthz")
    assert health.status == 200 and json.loads(health.body) == {"mysql": "ok", "redis": "ok"}
