"""Fixtures for the browser tests: a real ``server.py`` process, its database, Redis and Chromium.

These tests run in their own pytest process without pytest-tornado
(``make test-e2e``: ``pytest tests/e2e -p no:tornado``), because Playwright's
loop and pytest-tornado's ``io_loop`` cannot share a process.

- ``live_server`` (session): a fresh database ``ihome_test_e2e_<pid>`` (migrated,
  real areas and the facility catalogue seeded), an empty Redis db
  (IHOME_TEST_REDIS_DB, default 6) and ``server.py`` started as a subprocess on
  a free port, exactly as production starts it. At the end it gets SIGTERM and
  must exit 0 within 15 s (the graceful shutdown), then the database is dropped.
- ``db``: a pymysql connection (autocommit, DictCursor) to that database.
- ``redis_sync``: a sync redis client on the server's Redis db (str values).
- ``browser`` (session): Debian's Chromium through Playwright's sync API.
- ``page``: a fresh context (zh-CN) and page; a failed test leaves a
  full-page screenshot in test-artifacts/.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pymysql
import pymysql.cursors
import pytest
import redis
from playwright.sync_api import sync_playwright

from config import test_settings
from services.crypto import generate_key
from tests.e2e import helpers
from tests.utils import testdb

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
REDIS_DB = testdb.redis_db_number(default=6)  # IHOME_TEST_REDIS_DB when set
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

CHROMIUM = "/usr/bin/chromium"  # Debian's package; never a downloaded browser
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@dataclass
class LiveServer:
    """A running ``server.py``: where it listens and what it is connected to."""

    url: str
    mysql_url: str
    redis_url: str
    media_dir: Path
    db_name: str
    log_path: Path
    data_key: str = field(default_factory=generate_key)  # IHOME_DATA_KEY of the server (ID cards)
    process: subprocess.Popen | None = field(default=None, repr=False)

    def log(self, last: int = 60) -> str:
        """The last *last* lines of the server's output (for failure messages)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-last:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(server: LiveServer) -> dict[str, str]:
    # Nothing of the caller's own IHOME_* configuration may leak into the server under test.
    env = {k: v for k, v in os.environ.items() if not k.startswith("IHOME_")}
    env.update(
        IHOME_ENV="test",
        IHOME_MYSQL_URL=server.mysql_url,
        IHOME_REDIS_URL=server.redis_url,
        IHOME_MEDIA_DIR=str(server.media_dir),
        IHOME_COOKIE_SECRET=secrets.token_urlsafe(36),  # 48 characters
        IHOME_DATA_KEY=server.data_key,
        IHOME_BCRYPT_ROUNDS="4",  # bcrypt's cheapest cost: the browser tests test pages, not hashing
        # A dead port: the IP lookup fails at once and the offline fallback answers.
        IHOME_IPLOOKUP_URL="http://127.0.0.1:9/{ip}",
        # Every browser test comes from 127.0.0.1 within one server's lifetime; the
        # per-IP limits would start refusing sign-ups and logins after a few tests.
        # The limits themselves are tested in the pytest-tornado suite.
        IHOME_LIMIT_REGISTER_PER_IP="10000",
        IHOME_LIMIT_LOGIN_PER_IP="10000",
        IHOME_LIMIT_CAPTCHA_PER_IP="10000",
        PYTHONUNBUFFERED="1",
    )
    return env


def _wait_until_up(server: LiveServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.process.poll() is not None:
            pytest.fail(f"server.py exited with {server.process.returncode} at start-up:\n{server.log()}")
        try:
            with urllib.request.urlopen(server.url + "/", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"server.py did not answer within {START_TIMEOUT:.0f} s:\n{server.log()}")
        time.sleep(0.2)


def _stop(server: LiveServer) -> int | None:
    """SIGTERM the server and wait; returns its exit code, or None when it had to be killed."""
    proc = server.process
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """``server.py`` running on a free port against a fresh database and an empty Redis db."""
    db_name = f"ihome_test_e2e_{os.getpid()}"
    workdir = tmp_path_factory.mktemp("e2e-server")
    with testdb.throwaway_database(db_name, redis_db=REDIS_DB) as settings:
        server = LiveServer(url=f"http://127.0.0.1:{_free_port()}", mysql_url=settings.mysql_url,
                            redis_url=settings.redis_url, media_dir=workdir / "media", db_name=db_name,
                            log_path=workdir / "server.log")
        port = int(server.url.rsplit(":", 1)[1])
        with open(server.log_path, "wb") as log_file:
            server.process = subprocess.Popen(
                [sys.executable, "server.py", f"--port={port}"], cwd=ROOT, env=_server_env(server),
                stdout=log_file, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(server)
            helpers.configure(server.redis_url)
            yield server
        finally:
            helpers.configure(None)
            code = _stop(server)
        # SIGTERM must end in a clean exit: stop accepting, finish requests, close pool and Redis.
        assert code == 0, (f"server.py did not shut down cleanly on SIGTERM "
                           f"({'killed after %.0f s' % STOP_TIMEOUT if code is None else f'exit {code}'}):\n"
                           f"{server.log()}")


@pytest.fixture
def db(live_server):
    """A pymysql connection (autocommit, dict rows) to the live server's database."""
    params = test_settings().mysql
    conn = pymysql.connect(host=params.host, port=params.port, user=params.user, password=params.password,
                           database=live_server.db_name, charset="utf8mb4", autocommit=True,
                           cursorclass=pymysql.cursors.DictCursor)
    yield conn
    conn.close()


@pytest.fixture
def redis_sync(live_server):
    """A sync Redis client on the live server's Redis db (str values)."""
    client = redis.Redis.from_url(live_server.redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(scope="session")
def playwright_driver():
    """Playwright's sync API for the whole session."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_driver):
    """Headless Debian Chromium, shared by the session's tests (each gets its own context)."""
    instance = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield instance
    instance.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so ``page`` can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, request):
    """A new zh-CN browser context and page; a failed test leaves a screenshot in test-artifacts/."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
        try:
            tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        except Exception as exc:  # a screenshot must never hide the real failure
            print(f"screenshot failed: {exc}", file=sys.stderr)
    context.close()
