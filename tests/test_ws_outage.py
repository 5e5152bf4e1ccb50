"""Messaging while Redis is down (a private redis-server of this test, stopped and started again):
messages are stored in MariaDB and still delivered within the process, pages that need the
session answer 503 (never 500), a new socket is told to come back later, and the subscriber
reconnects when Redis returns."""

from __future__ import annotations

import asyncio

import pytest

from models import messages
from tests.utils import ws
from tests.utils.client import Client
from tests.utils.factories import make_house, make_user
from tests.utils.outage import PrivateRedis, serving


@pytest.mark.gen_test(timeout=120)
async def test_sending_survives_a_redis_outage(base_settings, http_client, tmp_path):
    redis = PrivateRedis(tmp_path / "redis", appendonly=True)  # sessions survive the restart
    redis.start()
    try:
        async with serving(base_settings.replace(redis_url=redis.url)) as (app, url):
            await app.db.execute("DELETE FROM messages")  # this process's database, shared by its tests
            guest, host = await make_user(app), await make_user(app)
            house = await make_house(app, host)
            conversation_id = await messages.open_conversation(app.db, house["id"], guest["id"])
            clients = {}
            for name, user in (("guest", guest), ("host", host)):
                clients[name] = Client(http_client, url)
                clients[name].login_as(app, await app.sessions.create(user["id"], ip="127.0.0.1"))
            await asyncio.wait_for(app.delivery.connected.wait(), 30)
            guest_ws = await ws.connect(url, clients["guest"])
            host_ws = await ws.connect(url, clients["host"])
            await ws.frame(guest_ws, "unread")
            await ws.frame(host_ws, "unread")

            redis.stop()
            ws.send(guest_ws, type="send", conversation_id=conversation_id, body="Redis 停了也能发", client_id="o")
            echo = await ws.frame(guest_ws, "message")
            assert echo["client_id"] == "o"
            assert (await ws.frame(host_ws, "message"))["id"] == echo["id"]
            assert await app.db.scalar("SELECT body FROM messages WHERE id = %s", echo["id"]) == "Redis 停了也能发"
            page = await clients["host"].get("/messages")
            assert page.code == 503 and page.headers.get("Retry-After")
            late = await ws.connect(url, clients["host"])
            assert await ws.closed(late) == 1013

            redis.start()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while not app.delivery.connected.is_set() or app.delivery._pubsub is None:
                assert loop.time() < deadline, "the subscriber never came back"
                await asyncio.sleep(0.1)
            # Live again through Redis: the socket the outage left open still works.
            ws.send(host_ws, type="send", conversation_id=conversation_id, body="恢复了", client_id="r")
            assert (await ws.frame(guest_ws, "message", match=lambda f: f["body"] == "恢复了"))["sender_id"] == host["id"]
            assert (await clients["host"].get("/messages")).code == 200
            guest_ws.close()
            host_ws.close()
    finally:
        redis.stop()
