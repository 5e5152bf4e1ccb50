"""Redis down: public pages answer from MariaDB, session pages answer a styled 503, nothing 500s;
Redis back: no stale-connection errors; a committed booking stays a success when the cache
invalidation after it cannot reach Redis.

Each test runs its own redis-server (tests/utils/outage.py), never the shared one.
"""

from __future__ import annotations

import asyncio

import pytest

from services.cache import HOME_KEY, SEARCH_GENERATION_KEY, house_key
from tests.utils.client import text
from tests.utils.dates import iso
from tests.utils.factories import PASSWORD, make_house, make_user
from tests.utils.outage import FaultProxy, PrivateRedis

PUBLIC_PAGES = ["/", "/houses", "/houses?sort=price-inc", "/api/v1/houses", "/api/v1/areas",
                "/login", "/register", "/static/css/site.css"]
SESSION_PAGES = ["/profile", "/my/orders?role=guest", "/my/houses", "/profile/sessions"]


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path / "redis", appendonly=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def proxy(io_loop, private_redis):
    """Every test here reaches its Redis through a FaultProxy (transparent until told otherwise)."""
    proxy = io_loop.run_sync(lambda: FaultProxy.start(private_redis.port))
    yield proxy
    io_loop.run_sync(proxy.close)


@pytest.fixture
def settings(base_settings, proxy):
    return base_settings.replace(redis_url=proxy.url)


def assert_unavailable(response, path):
    assert response.code == 503, (path, response.code)
    assert int(response.headers["Retry-After"]) > 0, path


@pytest.mark.gen_test
async def test_public_pages_answer_from_mariadb_while_redis_is_down(app, client, new_client, login,
                                                                   private_redis):
    owner = await make_user(app)
    house = await make_house(app, owner, title="停电也能看的房源")
    member = new_client()
    guest = await make_user(app, name="登录的房客")
    await login(member, guest)
    assert "登录的房客" in text(await member.get("/"))
    await client.get("/login")  # an XSRF cookie for the POSTs below

    private_redis.stop()

    for path in PUBLIC_PAGES + [f"/houses/{house['id']}", f"/api/v1/houses/{house['id']}/availability"]:
        for visitor in (client, member):
            response = await visitor.get(path)
            assert response.code == 200, (path, response.code)
    listing = text(await member.get(f"/houses/{house['id']}"))
    assert "停电也能看的房源" in listing
    # The logged-in visitor is served as anonymous on public pages...
    assert "登录的房客" not in text(await member.get("/"))
    # ...and gets a styled 503 (not a login form, not a 500) where the session is needed.
    for path in SESSION_PAGES:
        response = await member.get(path)
        assert_unavailable(response, path)
        assert "服务暂时不可用" in text(response)
    response = await member.post(f"/houses/{house['id']}/book", {"sd": iso(3), "ed": iso(5)})
    assert_unavailable(response, "book")
    response = await member.post("/logout", {})
    assert_unavailable(response, "logout")
    # Writes that need Redis themselves: the login throttle, the captcha.
    response = await client.post("/login", {"mobile": guest["mobile"], "password": "whatever1"})
    assert_unavailable(response, "login")
    response = await client.get("/captcha/abcdefgh.png")
    assert_unavailable(response, "captcha")
    assert (await app.db.scalar("SELECT COUNT(*) FROM orders")) == 0


@pytest.mark.gen_test
async def test_redis_restart_leaves_no_stale_connection_errors(app, client, new_client, login, private_redis):
    owner = await make_user(app)
    house = await make_house(app, owner)
    member = new_client()
    guest = await make_user(app, name="回来的房客")
    await login(member, guest)
    # Fill the pool with connections that will all be dead after the restart.
    for _ in range(5):
        assert (await member.get("/profile")).code == 200
        assert (await client.get(f"/houses/{house['id']}")).code == 200

    private_redis.stop()
    assert_unavailable(await member.get("/profile"), "/profile during the outage")
    private_redis.start()  # AOF: the session survives the restart
    app.cache._skip_until = 0  # the cache's pause after a failure is a per-process optimisation

    codes = []
    for _ in range(10):
        codes.append((await member.get("/profile")).code)
        codes.append((await client.get(f"/houses/{house['id']}")).code)
        codes.append((await client.get("/houses")).code)
    assert set(codes) == {200}, codes
    assert "回来的房客" in text(await member.get("/profile"))
    # The listing page is cached again once Redis is back.
    assert await app.redis.exists(house_key(house["id"])) == 1


@pytest.mark.gen_test
async def test_booking_succeeds_when_redis_goes_away_between_commit_and_invalidation(
        app, new_client, login, proxy):
    owner = await make_user(app)
    house = await make_house(app, owner)
    guest = new_client()
    await login(guest, await make_user(app))
    assert (await guest.get(f"/houses/{house['id']}")).code == 200  # now cached
    assert (await guest.get("/")).code == 200
    assert await app.redis.exists(house_key(house["id"]), HOME_KEY) == 2
    generation = int(await app.redis.get(SEARCH_GENERATION_KEY) or 0)

    # Redis becomes unreachable at the moment the invalidation (the first thing
    # that bumps the search generation) is sent: after the order has committed.
    proxy.cut_when_sent(SEARCH_GENERATION_KEY.encode())
    response = await guest.post(f"/houses/{house['id']}/book", {"sd": iso(3), "ed": iso(5)})

    assert proxy.cuts == 1
    assert response.code == 302, text(response)
    assert response.headers["Location"].startswith("/orders/")
    order_id = int(response.headers["Location"].rsplit("/", 1)[1])
    row = await app.db.queryone("SELECT guest_id, house_id, status FROM orders WHERE id = %s", order_id)
    assert row is not None and row["house_id"] == house["id"] and row["status"] == "pending"
    assert app.cache.degraded  # remembered, to be replayed

    # Redis reachable again: the pending invalidation is replayed in the background.
    await proxy.accept()
    for _ in range(500):
        if not app.cache.degraded:
            break
        await asyncio.sleep(0.02)
    assert not app.cache.degraded
    direct = app.redis
    assert await direct.exists(house_key(house["id"]), HOME_KEY) == 0
    assert int(await direct.get(SEARCH_GENERATION_KEY)) == generation + 1
    # The guest now sees the order page (session still there).
    assert (await guest.get(f"/orders/{order_id}")).code == 200


@pytest.mark.gen_test
async def test_password_change_succeeds_when_redis_goes_away_after_commit(app, new_client, login, proxy):
    user = await make_user(app)
    phone, laptop = new_client(), new_client()
    await login(phone, user)
    await login(laptop, user)
    assert (await laptop.get("/profile")).code == 200
    await phone.xsrf_token()
    old_hash = await app.db.scalar("SELECT password_hash FROM users WHERE id = %s", user["id"])

    # The first Redis command after the password transaction commits lists the
    # user's sessions to delete them: Redis becomes unreachable right then.
    proxy.cut_when_sent(b"SMEMBERS")
    response = await phone.post("/profile/password", {
        "old_password": PASSWORD, "new_password": "New#pass2025", "new_password2": "New#pass2025"})

    assert proxy.cuts == 1
    assert response.code == 302, text(response)
    assert await app.db.scalar("SELECT password_hash FROM users WHERE id = %s", user["id"]) != old_hash
    assert app.sessions.pending  # the Redis half of the revocation waits for Redis

    await proxy.accept()
    for _ in range(500):
        if not app.sessions.pending:
            break
        await asyncio.sleep(0.02)
    assert not app.sessions.pending
    assert (await laptop.get("/profile")).code == 302  # logged out once Redis is back
