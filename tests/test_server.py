"""Settings, start-up refusal in production, and the in-flight tracking used at shutdown."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

import config
from config import ConfigError, load_settings
from services.crypto import generate_key

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_and_overrides():
    s = load_settings({"IHOME_ENV": "test", "IHOME_PORT": "8123", "IHOME_LIMIT_LOGIN_PER_MOBILE": "50",
                       "IHOME_XHEADERS": "1"})
    assert s.port == 8123 and s.limits.login_per_mobile == 50 and s.xheaders is True
    assert s.limits.login_per_ip == 20 and len(s.cookie_secret) >= 32
    assert s.mysql.port == 3307 and s.mysql.db == "ihome"


@pytest.mark.parametrize("environ,message", [
    ({"IHOME_ENV": "production"}, "IHOME_COOKIE_SECRET"),
    ({"IHOME_ENV": "production", "IHOME_COOKIE_SECRET": "changeme"}, "IHOME_COOKIE_SECRET"),
    ({"IHOME_ENV": "production", "IHOME_COOKIE_SECRET": "short"}, "IHOME_COOKIE_SECRET"),
    ({"IHOME_ENV": "staging"}, "IHOME_ENV"),
    ({"IHOME_MYSQL_URL": "postgres://x/y"}, "IHOME_MYSQL_URL"),
    ({"IHOME_PORT": "eighty"}, "IHOME_PORT"),
    ({"IHOME_LIMIT_LOGIN_PER_IP": "many"}, "IHOME_LIMIT_LOGIN_PER_IP"),
])
def test_bad_configuration_refused(environ, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(environ)


def test_production_with_real_secrets_starts():
    s = load_settings({"IHOME_ENV": "production", "IHOME_COOKIE_SECRET": "x" * 40,
                       "IHOME_DATA_KEY": generate_key()})
    assert s.is_production and s.cookie_secret == "x" * 40


def test_server_refuses_to_start_in_production_without_secret():
    env = {k: v for k, v in os.environ.items() if not k.startswith("IHOME_")}
    env["IHOME_ENV"] = "production"
    result = subprocess.run([sys.executable, "server.py", "--port=1"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "IHOME_COOKIE_SECRET" in result.stderr


def test_mysql_url_round_trip():
    params = config.MySQLParams.from_url("mysql://u%40x:p%2Fw@db.local:3310/shop")
    assert (params.user, params.password, params.host, params.port, params.db) == ("u@x", "p/w", "db.local", 3310, "shop")
    assert config.MySQLParams.from_url(params.url("other")).db == "other"


@pytest.mark.gen_test
async def test_wait_idle_tracks_in_flight_requests(app):
    assert await app.wait_idle(0.01) is True
    app.request_started()
    assert await app.wait_idle(0.05) is False
    # A waiter started while the request is in flight returns True once it finishes
    # (the 60 s are only a hang guard; nothing here depends on how long anything takes).
    waiter = asyncio.ensure_future(app.wait_idle(60))
    await asyncio.sleep(0)  # let the waiter start waiting
    assert not waiter.done()
    app.request_finished()
    assert await waiter is True and app.inflight == 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sigterm_stops_gracefully(base_settings, tmp_path):
    """A real server process answers, then exits 0 on SIGTERM after closing its pool and Redis."""
    port = free_port()
    # The same data key as this process: the test database may hold ID cards it encrypted,
    # and the server checks at start-up that it can read them.
    env = {**os.environ, "IHOME_ENV": "test", "IHOME_MYSQL_URL": base_settings.mysql_url,
           "IHOME_REDIS_URL": base_settings.redis_url, "IHOME_MEDIA_DIR": str(tmp_path),
           "IHOME_COOKIE_SECRET": "s" * 48, "IHOME_DATA_KEY": base_settings.data_key}
    proc = subprocess.Popen([sys.executable, "server.py", f"--port={port}"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()

    def read_output() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)  # end of output: the process has exited

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    output: list[str] = []
    try:
        # Wait for the line the server logs once it listens (the 60 s only guard against a hang).
        while not any("serving on" in line for line in output):
            line = lines.get(timeout=60)
            assert line is not None, "server exited before listening:\n" + "".join(output)
            output.append(line)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=30) as response:
            assert response.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, "".join(output)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=60)
        proc.stdout.close()
    while (line := lines.get_nowait()) is not None:
        output.append(line)
    text = "".join(output)
    assert "shutting down" in text and "stopped" in text, text


@pytest.mark.gen_test
async def test_unexpected_error_is_styled_500(app, client):
    """A bug in a handler gives the styled 500 page, never a traceback."""
    from handlers.base import BaseHandler

    class BoomHandler(BaseHandler):
        async def get(self):
            raise RuntimeError("secret internal detail")

    app.add_handlers(r".*", [(r"/boom", BoomHandler)])
    import logging
    logging.getLogger("tornado.application").disabled = True  # the traceback is expected here
    try:
        response = await client.get("/boom")
    finally:
        logging.getLogger("tornado.application").disabled = False
    body = response.body.decode()
    assert response.code == 500
    assert "服务器开小差了" in body and "回到首页" in body and "secret internal detail" not in body
