"""The user kept with the session: logged-in public pages cost no MariaDB query.

The session in Redis holds a snapshot of what pages show about its user. It is
reloaded after any write the user makes (every session of theirs), when it is
older than ``user_reload``, and never trusted for writes or private pages. The
session's idle TTL is refreshed once per ``touch_interval``, not per request.
Revocation is unchanged: a revoked session is refused at once.
"""

from __future__ import annotations

import json
import time

import pytest

from services.sessions import SESSION_PREFIX
from tests.utils.client import logged_in, text


async def stored(app, session) -> dict:
    return json.loads(await app.redis.get(SESSION_PREFIX + session.token))


async def rename_behind_the_sites_back(app, user_id: int, name: str) -> None:
    """Change the name in MariaDB without going through the site (no write of the user's)."""
    await app.db.execute("UPDATE users SET name = %s WHERE id = %s", name, user_id)


@pytest.mark.gen_test
async def test_public_pages_take_the_user_from_the_session(app, client, login):
    client, user = await logged_in(client, app, login, name="快照里的名字")
    session = next(iter(await app.sessions.list_for_user(user["id"])))
    assert session.user is None  # a session made without a snapshot: loaded on first use
    assert user["name"] in text(await client.get("/"))
    snapshot = (await stored(app, session))["user"]
    assert snapshot == {"id": user["id"], "name": "快照里的名字", "mobile": user["mobile"], "avatar_key": None,
                        "is_admin": False, "is_active": True, "verified": True, "locale": None}
    await rename_behind_the_sites_back(app, user["id"], "数据库里的新名字")
    # The public pages show the snapshot (no query per request)…
    for path in ("/", "/houses"):
        body = text(await client.get(path))
        assert "快照里的名字" in body and "数据库里的新名字" not in body
    # …private pages and forms read MariaDB, and bring the snapshot up to date.
    assert "数据库里的新名字" in text(await client.get("/profile"))
    assert (await stored(app, session))["user"]["name"] == "数据库里的新名字"
    assert "数据库里的新名字" in text(await client.get("/"))


@pytest.mark.gen_test
async def test_a_profile_change_shows_at_once_in_every_session(app, client, new_client, login):
    client, user = await logged_in(client, app, login)
    other = new_client()
    await login(other, user)  # the same person on a second device
    for browser in (client, other):
        assert user["name"] in text(await browser.get("/"))
    response = await client.post("/profile", {"name": "改过的名字"})
    assert response.code in (200, 302)
    for browser in (client, other):
        body = text(await browser.get("/"))
        assert "改过的名字" in body and user["name"] not in body


@pytest.mark.gen_test
async def test_an_old_snapshot_is_reloaded(app, client, login):
    client, user = await logged_in(client, app, login, name="旧名字")
    await client.get("/")
    await rename_behind_the_sites_back(app, user["id"], "过了一分钟")
    session = (await app.sessions.list_for_user(user["id"]))[0]
    data = await stored(app, session)
    data["user_at"] -= app.sessions.user_reload + 1  # as if taken longer ago than user_reload
    await app.redis.set(SESSION_PREFIX + session.token, json.dumps(data), keepttl=True)
    assert "过了一分钟" in text(await client.get("/"))


@pytest.mark.gen_test
async def test_the_idle_ttl_is_refreshed_once_per_interval(app, client, login):
    client, user = await logged_in(client, app, login)
    await client.get("/")  # loads and stores the snapshot (one write)
    touches = app.sessions.touches
    for _ in range(5):
        assert (await client.get("/")).code == 200
    assert app.sessions.touches == touches  # reads only
    session = (await app.sessions.list_for_user(user["id"]))[0]
    data = await stored(app, session)
    data["last_seen"] = time.time() - app.sessions.touch_interval - 1
    await app.redis.set(SESSION_PREFIX + session.token, json.dumps(data), ex=30)
    await client.get("/")
    assert app.sessions.touches == touches + 1
    assert 30 < await app.redis.ttl(SESSION_PREFIX + session.token) <= app.config.session_idle_ttl


@pytest.mark.gen_test
async def test_a_revoked_session_is_refused_despite_its_snapshot(app, client, new_client, login):
    client, user = await logged_in(client, app, login)
    assert user["name"] in text(await client.get("/"))
    await app.sessions.revoke_user(user["id"])
    body = text(await client.get("/"))
    assert user["name"] not in body and 'href="/login"' in body
    assert (await client.get("/profile")).code == 302
    # Logging out ends the snapshot with the session too.
    other, other_user = await logged_in(new_client(), app, login)
    assert other_user["name"] in text(await other.get("/"))
    assert (await other.post("/logout")).code == 302
    assert await app.redis.keys(SESSION_PREFIX + "*") == []


@pytest.mark.gen_test
async def test_a_disabled_account_is_logged_out(app, client, login):
    client, user = await logged_in(client, app, login)
    await client.get("/")
    await app.db.execute("UPDATE users SET is_active = 0 WHERE id = %s", user["id"])
    # A write or a private page reads MariaDB: the account is refused there and logged out.
    assert (await client.get("/profile")).code == 302
    assert user["name"] not in text(await client.get("/"))
