"""Two app processes, one Redis: a message sent over a socket on one arrives over a socket on the other.

The test's own app (process A) and a real ``server.py`` process (B) on another free port share
this test's database and Redis db, and the cookie secret, as processes behind nginx do.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from models import messages
from tests.utils import ws
from tests.utils.client import logged_in
from tests.utils.factories import make_house

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def second_process(base_settings, tmp_path):
    """``http://127.0.0.1:<port>`` of a server.py process sharing this test's stores; stopped after."""
    port = free_port()
    env = {**os.environ, "IHOME_ENV": "test", "IHOME_MYSQL_URL": base_settings.mysql_url,
           "IHOME_REDIS_URL": base_settings.redis_url, "IHOME_MEDIA_DIR": str(tmp_path),
           "IHOME_COOKIE_SECRET": base_settings.cookie_secret, "IHOME_DATA_KEY": base_settings.data_key}
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "server.py", f"--port={port}"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    yield f"http://127.0.0.1:{port}", proc, tmp_path / "server.log"
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


async def wait_listening(url: str, proc, log_path, timeout: float = 60.0) -> None:
    port = int(url.rsplit(":", 1)[1])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        assert proc.poll() is None, "server exited:\n" + log_path.read_text()
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError("server did not listen:\n" + log_path.read_text())


@pytest.mark.gen_test(timeout=120)
async def test_message_crosses_processes(app, http_server, base_url, new_client, login, second_process):
    url_b, proc, log_path = second_process
    guest_client, guest = await logged_in(new_client(), app, login)
    host_client, host = await logged_in(new_client(), app, login)
    house = await make_house(app, host)
    conversation_id = await messages.open_conversation(app.db, house["id"], guest["id"])
    await wait_listening(url_b, proc, log_path)
    guest_ws = await ws.connect(base_url, guest_client)            # process A (this test's app)
    host_ws = await ws.connect(url_b, host_client)                 # process B
    await ws.frame(guest_ws, "unread")
    await ws.frame(host_ws, "unread")
    # B's subscriber may still be subscribing the host's channel: resend until one arrives,
    # each attempt a distinct message (the set of bodies received is compared, not timing).
    sent = set()
    for attempt in range(20):
        body = f"跨进程 {attempt}"
        sent.add(body)
        ws.send(guest_ws, type="send", conversation_id=conversation_id, body=body, client_id=str(attempt))
        await ws.frame(guest_ws, "message", match=lambda f, a=attempt: f.get("client_id") == str(a))
        try:
            got = await ws.frame(host_ws, "message", timeout=2)
            break
        except asyncio.TimeoutError:
            continue
    else:
        pytest.fail("no message crossed from process A to process B")
    assert got["body"] in sent and got["sender_id"] == guest["id"]
    stored = await app.db.scalar("SELECT COUNT(*) FROM messages WHERE id = %s", got["id"])
    assert stored == 1
    # And back: the host writes on B, the guest reads it on A.
    ws.send(host_ws, type="send", conversation_id=conversation_id, body="收到，来自 B", client_id="b")
    back = await ws.frame(guest_ws, "message", match=lambda f: f["body"] == "收到，来自 B")
    assert back["sender_id"] == host["id"]
    guest_ws.close()
    host_ws.close()
