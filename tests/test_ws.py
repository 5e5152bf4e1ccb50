"""/ws against the real app, MariaDB and Redis: authentication, origin, live delivery, unread
counts, strangers, limits, malformed frames, revocation and catch-up."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

from models import messages
from tests.utils import ws
from tests.utils.client import logged_in
from tests.utils.factories import make_house


@pytest.fixture
def pair(app, io_loop, new_client, login):
    """(guest client, guest, host client, host, conversation id): a conversation about the host's listing."""
    return io_loop.run_sync(lambda: ws.conversation_pair(app, new_client, login))


async def count_messages(app) -> int:
    return int(await app.db.scalar("SELECT COUNT(*) FROM messages"))


@pytest.mark.gen_test
async def test_no_session_is_closed_with_4401(app, http_server, base_url, client):
    conn = await ws.connect(base_url)
    assert await ws.closed(conn) == 4401
    conn = await ws.connect(base_url, cookie="ihome_session=forged")
    assert await ws.closed(conn) == 4401


@pytest.mark.gen_test
async def test_foreign_origin_is_refused(app, http_server, base_url, client, login):
    await logged_in(client, app, login)
    for origin in ("http://evil.example", base_url.replace("http:", "https:"), "null"):
        with pytest.raises(HTTPClientError) as refused:
            await ws.connect(base_url, client, origin=origin)
        assert refused.value.code == 403, origin
    conn = await ws.connect(base_url, client)  # the page's own origin is fine
    assert (await ws.frame(conn, "unread"))["total"] == 0
    conn.close()


@pytest.mark.gen_test
async def test_configured_site_origin_is_the_only_one(app, http_server, base_url, client, login):
    app.config = app.config.replace(site_origin="https://ihome.example")
    await logged_in(client, app, login)
    with pytest.raises(HTTPClientError):
        await ws.connect(base_url, client)
    conn = await ws.connect(base_url, client, origin="https://ihome.example")
    assert (await ws.frame(conn, "unread"))["total"] == 0
    conn.close()


@pytest.mark.gen_test
async def test_message_reaches_the_other_party_live_and_is_stored(app, http_server, base_url, pair):
    guest_client, guest, host_client, host, conversation_id = pair
    guest_ws = await ws.connect(base_url, guest_client)
    host_ws = await ws.connect(base_url, host_client)
    await ws.frame(guest_ws, "unread")
    await ws.frame(host_ws, "unread")
    ws.send(guest_ws, type="send", conversation_id=conversation_id, body="  有停车位吗？<b>x</b>  ", client_id="c1")
    echo = await ws.frame(guest_ws, "message")
    live = await ws.frame(host_ws, "message")
    assert echo["client_id"] == "c1" and echo["id"] == live["id"]
    assert live["body"] == "有停车位吗？<b>x</b>" and live["sender_id"] == guest["id"] and live["kind"] == "text"
    assert live["conversation_id"] == conversation_id and live["created_at"][:4].isdigit()
    unread = await ws.frame(host_ws, "unread")
    assert unread == {"type": "unread", "total": 1, "conversation_id": conversation_id, "count": 1}
    row = await app.db.queryone("SELECT * FROM messages WHERE id = %s", live["id"])
    assert row["body"] == "有停车位吗？<b>x</b>" and row["sender_id"] == guest["id"]
    # Reading marks it read: the host's other tabs follow.
    host_tab2 = await ws.connect(base_url, host_client)
    assert (await ws.frame(host_tab2, "unread"))["total"] == 1
    ws.send(host_ws, type="read", conversation_id=conversation_id, message_id=live["id"])
    for conn in (host_ws, host_tab2):
        assert (await ws.frame(conn, "unread", match=lambda f: f["total"] == 0))["count"] == 0
    assert await messages.unread_total(app.db, host["id"]) == 0
    for conn in (guest_ws, host_ws, host_tab2):
        conn.close()


@pytest.mark.gen_test
async def test_stranger_cannot_send_or_read(app, http_server, base_url, pair, new_client, login):
    *_, conversation_id = pair
    stranger_client, _ = await logged_in(new_client(), app, login)
    conn = await ws.connect(base_url, stranger_client)
    before = await count_messages(app)
    ws.send(conn, type="send", conversation_id=conversation_id, body="你好", client_id="s")
    assert (await ws.frame(conn, "error"))["message"] == "对话不存在"
    ws.send(conn, type="read", conversation_id=conversation_id, message_id=1)
    assert (await ws.frame(conn, "error"))["message"] == "对话不存在"
    assert await count_messages(app) == before
    conn.close()


@pytest.mark.gen_test
async def test_malformed_frames_get_error_frames_and_the_socket_stays(app, http_server, base_url, pair):
    guest_client, guest, _, _, conversation_id = pair
    conn = await ws.connect(base_url, guest_client)
    await ws.frame(conn, "unread")
    bad = ["not json", "[1, 2]", "null", '"text"', json.dumps({"type": "dance"}),
           json.dumps({"type": "send"}), json.dumps({"type": "send", "conversation_id": "1", "body": "x"}),
           json.dumps({"type": "send", "conversation_id": True, "body": "x"}),
           json.dumps({"type": "send", "conversation_id": 10 ** 30, "body": "x"}),
           json.dumps({"type": "send", "conversation_id": conversation_id, "body": 5}),
           json.dumps({"type": "send", "conversation_id": conversation_id, "body": "   "}),
           json.dumps({"type": "send", "conversation_id": conversation_id, "body": "长" * 2001}),
           json.dumps({"type": "send", "conversation_id": conversation_id, "body": "x", "client_id": ["a"]}),
           json.dumps({"type": "read", "conversation_id": conversation_id, "message_id": -1}),
           json.dumps({"type": "read", "conversation_id": conversation_id, "message_id": "9"})]
    for raw in bad:
        conn.write_message(raw)
        assert (await ws.frame(conn))["type"] == "error", raw
    conn.write_message(b"\x00\x01binary", binary=True)
    assert (await ws.frame(conn))["type"] == "error"
    assert await count_messages(app) == 0
    # Still open and working; exactly 2,000 characters is allowed.
    ws.send(conn, type="send", conversation_id=conversation_id, body="长" * 2000, client_id="ok")
    assert (await ws.frame(conn, "message"))["client_id"] == "ok"
    conn.close()


@pytest.mark.gen_test
async def test_an_oversized_frame_closes_only_that_socket(app, http_server, base_url, pair):
    guest_client, *_ = pair
    conn = await ws.connect(base_url, guest_client)
    other = await ws.connect(base_url, guest_client)
    conn.write_message("x" * (64 * 1024))
    assert await ws.closed(conn) == 1009
    assert (await ws.frame(other, "unread"))["total"] == 0  # the process is fine
    other.close()


@pytest.mark.gen_test
async def test_revoked_session_cannot_send_and_is_swept(app, http_server, base_url, pair, new_client, login):
    guest_client, guest, _, _, conversation_id = pair
    conn = await ws.connect(base_url, guest_client)
    await ws.frame(conn, "unread")
    idle = await ws.connect(base_url, guest_client)
    await ws.frame(idle, "unread")
    await app.sessions.revoke_user(guest["id"])  # as a password change does
    ws.send(conn, type="send", conversation_id=conversation_id, body="还在吗", client_id="x")
    assert await ws.closed(conn) == 4401
    assert await count_messages(app) == 0
    assert await app.sockets.sweep() == 1  # the idle socket goes at the next sweep
    assert await ws.closed(idle) == 4401


@pytest.mark.gen_test
async def test_reconnect_catches_up_from_the_last_id(app, http_server, base_url, pair):
    guest_client, guest, host_client, host, conversation_id = pair
    _, first = await messages.send(app.db, conversation_id, guest["id"], "第一条")
    _, second = await messages.send(app.db, conversation_id, guest["id"], "第二条")
    _, third = await messages.send(app.db, conversation_id, host["id"], "房东回复")
    conn = await ws.connect(base_url, host_client, last_id=first["id"])
    got = [await ws.frame(conn, "message") for _ in range(2)]
    assert [f["id"] for f in got] == [second["id"], third["id"]]
    assert [f["body"] for f in got] == ["第二条", "房东回复"]
    conn.close()


@pytest.mark.gen_test
async def test_order_events_reach_the_host_live(app, http_server, base_url, new_client, login):
    import datetime
    guest_client, guest = await logged_in(new_client(), app, login)
    host_client, host = await logged_in(new_client(), app, login)
    house = await make_house(app, host)
    host_ws = await ws.connect(base_url, host_client)
    await ws.frame(host_ws, "unread")
    day = datetime.date.today() + datetime.timedelta(days=30)
    response = await guest_client.post(f"/houses/{house['id']}/book",
                                       {"sd": day.isoformat(), "ed": (day + datetime.timedelta(days=2)).isoformat(),
                                        "guests": "1"})
    assert response.code == 302, response.body
    system = await ws.frame(host_ws, "message")
    assert system["kind"] == "system" and system["sender_id"] is None
    assert day.isoformat() in system["body"] and "2 晚" in system["body"]
    assert (await ws.frame(host_ws, "unread"))["total"] == 1
    host_ws.close()


def test_settings_and_policy_for_the_site_origin():
    from config import ConfigError, load_settings
    from handlers.security import CONTENT_SECURITY_POLICY, policy_for

    settings = load_settings({"IHOME_ENV": "test", "IHOME_SITE_ORIGIN": "https://ihome.example/",
                              "IHOME_WS_MAX_PER_USER": "3", "IHOME_LIMIT_MESSAGE_PER_MINUTE": "7"})
    assert settings.site_origin == "https://ihome.example"
    assert settings.ws_max_per_user == 3 and settings.limits.message_per_minute == 7
    defaults = load_settings({"IHOME_ENV": "test"})
    assert (defaults.site_origin, defaults.ws_max_per_user, defaults.limits.message_per_minute) == ("", 5, 30)
    for bad in ({"IHOME_SITE_ORIGIN": "ihome.example"}, {"IHOME_SITE_ORIGIN": "https://x.example/path"},
                {"IHOME_WS_MAX_PER_USER": "five"}):
        with pytest.raises(ConfigError):
            load_settings({"IHOME_ENV": "test", **bad})
    assert policy_for("") == CONTENT_SECURITY_POLICY
    assert "connect-src 'self' wss://ihome.example;" in policy_for("https://ihome.example")
    assert "connect-src 'self' ws://127.0.0.1:8000;" in policy_for("http://127.0.0.1:8000")


@pytest.mark.gen_test
async def test_pages_carry_the_socket_origin_in_the_policy(app, http_server, base_url, client):
    app.config = app.config.replace(site_origin="https://ihome.example")
    response = await client.get("/login")
    assert "connect-src 'self' wss://ihome.example" in response.headers["Content-Security-Policy"]
