"""/ws limits: messages per minute per user and sockets per user (settings lowered for the test)."""

from __future__ import annotations

import json

import pytest

from config import Limits
from tests.utils import ws


@pytest.fixture
def settings(base_settings):
    return base_settings.replace(limits=Limits(message_per_minute=3), ws_max_per_user=2)


@pytest.fixture
def pair(app, io_loop, new_client, login):
    """(guest client, guest, host client, host, conversation id): a conversation about the host's listing."""
    return io_loop.run_sync(lambda: ws.conversation_pair(app, new_client, login))


@pytest.mark.gen_test
async def test_message_rate_limit(app, http_server, base_url, pair):
    guest_client, guest, _, _, conversation_id = pair
    conn = await ws.connect(base_url, guest_client)
    for i in range(3):
        ws.send(conn, type="send", conversation_id=conversation_id, body=f"第 {i} 条", client_id=f"c{i}")
        await ws.frame(conn, "message", match=lambda f, i=i: f.get("client_id") == f"c{i}")
    ws.send(conn, type="send", conversation_id=conversation_id, body="太多了", client_id="c3")
    refused = await ws.frame(conn, "error")
    assert refused["client_id"] == "c3" and "频繁" in refused["message"]
    assert await app.db.scalar("SELECT COUNT(*) FROM messages") == 3
    conn.close()


@pytest.mark.gen_test
async def test_sockets_per_user_are_limited(app, http_server, base_url, pair):
    guest_client, guest, host_client, *_ = pair
    first = await ws.connect(base_url, guest_client)
    second = await ws.connect(base_url, guest_client)
    for conn in (first, second):
        await ws.frame(conn, "unread")
    third = await ws.connect(base_url, guest_client)
    assert await ws.closed(third) == 4429
    host = await ws.connect(base_url, host_client)  # other users are not affected
    await ws.frame(host, "unread")
    first.close()
    await ws.closed(first)
    # The slot is given back when a socket closes.
    for _ in range(100):
        again = await ws.connect(base_url, guest_client)
        raw = await again.read_message()
        if raw is not None:
            assert json.loads(raw)["type"] == "unread"
            break
        assert again.close_code == 4429
    else:
        pytest.fail("the closed socket's slot was never freed")
    for conn in (second, host, again):
        conn.close()
