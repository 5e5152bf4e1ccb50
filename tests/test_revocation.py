"""Revoked sessions stay revoked when Redis comes back from an older snapshot.

Logout, "log out that device", password change and an admin disabling an account
are recorded in MariaDB (models/revocations.py); a session read from a Redis
server it was not checked on is checked against that record once. The test
Redis is a private redis-server whose RDB snapshot the tests take and restore.
"""

from __future__ import annotations

import time

import pytest

from models import revocations
from tests.utils.client import admin_client, text
from tests.utils.factories import PASSWORD, make_user
from tests.utils.outage import PrivateRedis


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path / "redis")  # RDB only: a restart loads the snapshot
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(base_settings, private_redis):
    return base_settings.replace(redis_url=private_redis.url)


async def logged_in_as(app, new_client, login, user):
    client = new_client()
    await login(client, user)
    assert (await client.get("/profile")).code == 200
    return client


async def is_logged_in(client) -> bool:
    """True when /profile shows the page; False when it sends the visitor to log in (nothing else)."""
    response = await client.get("/profile")
    if response.code == 200:
        return True
    assert response.code == 302 and response.headers["Location"].startswith("/login?next="), response.code
    return False


@pytest.mark.gen_test
async def test_revoked_sessions_do_not_come_back_from_a_snapshot(app, new_client, login, private_redis, tmp_path):
    alice = await make_user(app, name="alice")
    bob = await make_user(app, name="bob")
    carol = await make_user(app, name="carol")
    keeper = await make_user(app, name="keeper")
    alice_browser = await logged_in_as(app, new_client, login, alice)
    bob_laptop = await logged_in_as(app, new_client, login, bob)
    bob_phone = await logged_in_as(app, new_client, login, bob)
    carol_browser = await logged_in_as(app, new_client, login, carol)
    keeper_browser = await logged_in_as(app, new_client, login, keeper)
    admin, _ = await admin_client(app, new_client, login)

    snapshot = private_redis.snapshot(tmp_path / "before.rdb")
    old_cookies = {name: dict(c.cookies) for name, c in
                   [("alice", alice_browser), ("bob_laptop", bob_laptop), ("bob_phone", bob_phone),
                    ("carol", carol_browser)]}

    # alice logs out; bob changes his password on his phone (his laptop is logged
    # out, the phone continues under a new token); an admin disables carol and
    # enables her again (so only the revocation, not is_active, can refuse her).
    assert (await alice_browser.post("/logout", {})).code == 302
    response = await bob_phone.post("/profile/password", {
        "old_password": PASSWORD, "new_password": "New#pass2025", "new_password2": "New#pass2025"})
    assert response.code == 302, text(response)
    assert (await admin.post(f"/admin/users/{carol['id']}/disable", {"reason": "test"})).code == 302
    assert (await admin.post(f"/admin/users/{carol['id']}/enable", {})).code == 302
    for name in ("alice", "bob_laptop", "carol"):
        browser = new_client()
        browser.cookies.update(old_cookies[name])
        assert not await is_logged_in(browser), name

    private_redis.restore(snapshot)  # every revoked session is back in Redis...
    assert await app.redis.dbsize() > 0

    for name in ("alice", "bob_laptop", "bob_phone", "carol"):
        browser = new_client()
        browser.cookies.update(old_cookies[name])
        assert not await is_logged_in(browser), f"{name}'s revoked session came back"
    # ...and refused for good: they were deleted from Redis as they were refused.
    for name in ("alice", "bob_laptop"):
        browser = new_client()
        browser.cookies.update(old_cookies[name])
        assert not await is_logged_in(browser), name
    # A session nobody revoked survives the restore.
    assert await is_logged_in(keeper_browser)


@pytest.mark.gen_test
async def test_the_revocation_check_runs_once_per_session_per_redis_server(app, new_client, login,
                                                                         private_redis, tmp_path):
    user = await make_user(app)
    browser = await logged_in_as(app, new_client, login, user)
    checks = app.sessions.checks
    for _ in range(5):
        assert await is_logged_in(browser)
    assert app.sessions.checks == checks  # created on this server: no MariaDB check per request

    private_redis.snapshot(tmp_path / "copy.rdb")  # SAVE: the session is in the RDB file
    private_redis.stop()
    private_redis.start()  # loads it under a new run_id: each session is checked once
    for _ in range(5):
        assert await is_logged_in(browser)
    assert app.sessions.checks == checks + 1


@pytest.mark.gen_test
async def test_revocation_rows_expire_with_their_session(app):
    user = await make_user(app)

    class Old:
        token = "old-token"
        user_id = user["id"]
        created_at = 0.0  # expired long ago

    class Fresh:
        token = "fresh-token"
        user_id = user["id"]
        created_at = time.time()

    log = revocations.RevocationLog(app.db)
    await log.record([Old()], absolute_ttl=60)
    await log.record([Fresh()], absolute_ttl=60)  # purges the expired row
    hashes = {row["h"] for row in await app.db.query("SELECT HEX(token_hash) AS h FROM revoked_sessions")}
    assert hashes == {revocations.token_hash("fresh-token").upper()}
    assert not await log.allows(Fresh())


@pytest.mark.gen_test
async def test_revoke_all_sessions_refuses_older_sessions_only(app):
    user = await make_user(app)

    class Session:
        token = "t"
        user_id = user["id"]

        def __init__(self, created_at):
            self.created_at = created_at

    log = revocations.RevocationLog(app.db)
    assert await log.allows(Session(100.0))
    async with app.db.transaction() as tx:
        at = await revocations.revoke_all_sessions(tx, user["id"], at=200.0)
    assert at == 200.0
    assert not await log.allows(Session(199.999))
    assert await log.allows(Session(200.0))
    async with app.db.transaction() as tx:  # never moves backwards
        await revocations.revoke_all_sessions(tx, user["id"], at=150.0)
    assert not await log.allows(Session(199.0))
