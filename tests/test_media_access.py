"""/media: photos of non-public listings only for their owner and admins (issue 9, item 8).

Avatars and photos of online listings are public; photos of pending, rejected
and offline listings are served to the owner and admins only (404 for everyone
else, as for an unknown key); deleted listings' photos are gone from disk.
"""

from __future__ import annotations

import asyncio
import http.client
import ssl

import pytest

from handlers.media import PUBLIC_CACHE_CONTROL, PUBLIC_TTL, public_key
from models import houses
from tests.utils.client import admin_client, logged_in
from tests.utils.factories import make_house, make_user
from tests.utils.images import jpeg_bytes, png_bytes
from tests.utils.nginx import HOST, needs_nginx, shipped_nginx
from tests.utils.outage import PrivateRedis


async def photo_of(app, client, house) -> str:
    """Upload one photo to *house* as *client* (its owner), leaving the listing pending; returns its key.

    The upload happens while the listing is pending, so the photo is one of its own
    (added to an online listing it would wait in the listing's revision).
    """
    await app.db.execute("UPDATE houses SET status = 'pending' WHERE id = %s", house["id"])
    response = await client.post(f"/houses/{house['id']}/images", files=[("image", "a.jpg", jpeg_bytes(), "image/jpeg")])
    assert response.code == 302
    rows = await houses.images(app.db, house["id"])
    return rows[-1]["storage_key"]


@pytest.fixture
def owner(app, client, login, io_loop):
    """(client, user): a logged-in landlord."""
    return io_loop.run_sync(lambda: logged_in(client, app, login))


@pytest.mark.gen_test
async def test_public_listing_photo_is_served_to_anyone(app, owner, new_client):
    client, user = owner
    house = await make_house(app, user, status="online")
    key = await photo_of(app, client, house)
    await app.db.execute("UPDATE houses SET status = 'online' WHERE id = %s", house["id"])  # upload sent it to review
    visitor = new_client()
    for size in ("l", "t"):
        response = await visitor.get(app.images.url(key, size))
        assert response.code == 200 and response.headers["Content-Type"] == "image/jpeg"
        assert response.body == app.images.path(key, size).read_bytes()
        assert response.headers["Cache-Control"] == PUBLIC_CACHE_CONTROL
    assert await app.redis.exists(public_key(key)) == 1
    assert 0 < await app.redis.ttl(public_key(key)) <= PUBLIC_TTL


@pytest.mark.gen_test
@pytest.mark.parametrize("status", ["pending", "rejected", "offline"])
async def test_private_listing_photo_only_for_owner_and_admin(app, owner, new_client, login, status):
    client, user = owner
    house = await make_house(app, user)
    key = await photo_of(app, client, house)
    await app.db.execute("UPDATE houses SET status = %s WHERE id = %s", status, house["id"])
    url = app.images.url(key, "t")
    anonymous = await new_client().get(url)
    assert anonymous.code == 404
    stranger, _ = await logged_in(new_client(), app, login)
    assert (await stranger.get(url)).code == 404
    mine = await client.get(url)
    assert mine.code == 200 and mine.body == app.images.path(key, "t").read_bytes()
    assert "no-store" in mine.headers["Cache-Control"]
    admin, _ = await admin_client(app, new_client, login)
    assert (await admin.get(url)).code == 200
    assert await app.redis.exists(public_key(key)) == 0  # never remembered as public


@pytest.mark.gen_test
async def test_listing_taken_offline_stops_being_public(app, owner, new_client):
    client, user = owner
    house = await make_house(app, user)
    key = await photo_of(app, client, house)
    await app.db.execute("UPDATE houses SET status = 'online' WHERE id = %s", house["id"])
    visitor = new_client()
    assert (await visitor.get(app.images.url(key))).code == 200
    await app.db.execute("UPDATE houses SET status = 'offline' WHERE id = %s", house["id"])
    # Remembered as public for at most PUBLIC_TTL seconds; once that entry is gone, refused.
    await app.redis.delete(public_key(key))
    assert (await visitor.get(app.images.url(key))).code == 404


@pytest.mark.gen_test
async def test_avatars_stay_public(app, owner, new_client):
    client, user = owner
    response = await client.post("/profile/avatar", files=[("avatar", "me.png", png_bytes(), "image/png")])
    assert response.code == 302
    key = await app.db.scalar("SELECT avatar_key FROM users WHERE id = %s", user["id"])
    assert (await new_client().get(app.images.url(key, "t"))).code == 200


@pytest.mark.gen_test
async def test_unknown_and_malformed_paths(app, client):
    # A file on disk that no row refers to is served to no one.
    stray = "ab" + "0" * 30
    path = app.images.path(stray, "l")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg_bytes())
    try:
        assert (await client.get(app.images.url(stray))).code == 404
    finally:
        path.unlink()
    for bad in ("/media/ab/" + "0" * 32 + "_x.jpg", "/media/cd/" + "ab" + "0" * 30 + "_l.jpg",
                "/media/.incoming/up-1", "/media/../server.py", "/media/"):
        assert (await client.get(bad)).code == 404, bad
    assert (await client.get("/media/ab/%00.jpg")).code == 400


@pytest.mark.gen_test
async def test_head_on_a_public_photo(app, owner, new_client):
    client, user = owner
    house = await make_house(app, user)
    key = await photo_of(app, client, house)
    await app.db.execute("UPDATE houses SET status = 'online' WHERE id = %s", house["id"])
    response = await new_client().fetch("HEAD", app.images.url(key))
    assert response.code == 200 and response.body == b""
    assert int(response.headers["Content-Length"]) == app.images.path(key).stat().st_size


class TestAccelRedirect:
    """Behind nginx (IHOME_MEDIA_ACCEL_REDIRECT): the app decides, nginx sends the bytes."""

    @pytest.fixture
    def settings(self, base_settings):
        return base_settings.replace(media_accel_redirect="/_media/")

    @pytest.mark.gen_test
    async def test_allowed_gets_the_internal_location(self, app, owner, new_client):
        client, user = owner
        house = await make_house(app, user)
        key = await photo_of(app, client, house)  # pending: the owner may see it
        url = app.images.url(key, "t")
        mine = await client.get(url)
        assert mine.code == 200 and mine.body == b""
        assert mine.headers["X-Accel-Redirect"] == "/_media" + url.removeprefix("/media")
        assert mine.headers["Content-Type"] == "image/jpeg"  # nginx keeps it
        assert "no-store" in mine.headers["Cache-Control"]
        refused = await new_client().get(url)
        assert refused.code == 404 and "X-Accel-Redirect" not in refused.headers


@pytest.mark.gen_test
async def test_media_lookup_is_cheap_once_public(app, owner, new_client):
    client, user = owner
    house = await make_house(app, user)
    key = await photo_of(app, client, house)
    await app.db.execute("UPDATE houses SET status = 'online' WHERE id = %s", house["id"])
    visitor = new_client()
    assert (await visitor.get(app.images.url(key))).code == 200
    # The next answers come from the Redis entry: they hold even with the row gone.
    await app.db.execute("DELETE FROM house_images WHERE storage_key = %s", key)
    assert (await visitor.get(app.images.url(key, "t"))).code == 200
    await app.redis.delete(public_key(key))
    assert (await visitor.get(app.images.url(key, "t"))).code == 404


@pytest.mark.gen_test
async def test_other_owner_cannot_confirm_a_private_key(app, owner, new_client, login):
    client, user = owner
    other = await make_user(app)
    house = await make_house(app, user, status="pending")
    key = await photo_of(app, client, house)
    stranger = new_client()
    await login(stranger, other)
    unknown = await stranger.get(app.images.url("ef" + "1" * 30))
    private = await stranger.get(app.images.url(key))
    assert unknown.code == private.code == 404


# -- behind the shipped nginx -------------------------------------------------------
def https_get(port: int, path: str, cookie: str = "") -> tuple[int, dict, bytes]:
    """A blocking GET through nginx (run it in an executor: the app answers on this test's loop)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the throw-away self-signed certificate
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": HOST, **({"Cookie": cookie} if cookie else {})})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


class TestBehindNginx:
    """The shipped nginx sends the file the app allowed, from its internal /_media/ location."""

    @pytest.fixture
    def settings(self, base_settings):
        return base_settings.replace(media_accel_redirect="/_media/")

    @needs_nginx
    @pytest.mark.gen_test(timeout=60)
    async def test_public_private_and_internal(self, app, owner, new_client, http_port, tmp_path):
        client, user = owner
        house = await make_house(app, user)
        private_key = await photo_of(app, client, house)  # the upload sent it to review: pending
        other = await make_house(app, user)
        public_key_ = await photo_of(app, client, other)
        await app.db.execute("UPDATE houses SET status = 'online' WHERE id = %s", other["id"])
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        loop = asyncio.get_running_loop()
        with shipped_nginx(tmp_path, http_port, app.config.media_dir) as (_, port):
            status, headers, body = await loop.run_in_executor(None, https_get, port, app.images.url(public_key_))
            assert status == 200 and body == app.images.path(public_key_).read_bytes()
            assert headers["content-type"] == "image/jpeg"
            assert headers["cache-control"] == PUBLIC_CACHE_CONTROL
            assert "x-accel-redirect" not in headers
            assert headers["x-content-type-options"] == "nosniff"
            private_url = app.images.url(private_key, "t")
            status, _, _ = await loop.run_in_executor(None, https_get, port, private_url)
            assert status == 404
            status, headers, body = await loop.run_in_executor(None, https_get, port, private_url, cookie)
            assert status == 200 and body == app.images.path(private_key, "t").read_bytes()
            assert "no-store" in headers["cache-control"]
            # The internal location cannot be asked for directly.
            direct = "/_media" + private_url.removeprefix("/media")
            status, _, _ = await loop.run_in_executor(None, https_get, port, direct)
            assert status == 404


class TestRedisDown:
    """Redis only remembers public keys: with it down, pictures are still decided by MariaDB."""

    @pytest.fixture
    def private_redis(self, tmp_path):
        server = PrivateRedis(tmp_path / "redis")
        server.start()
        yield server
        server.stop()

    @pytest.fixture
    def settings(self, base_settings, private_redis):
        return base_settings.replace(redis_url=private_redis.url)

    @pytest.mark.gen_test(timeout=60)
    async def test_public_photo_served_from_mariadb(self, app, owner, new_client, private_redis):
        client, user = owner
        house = await make_house(app, user)
        key = await photo_of(app, client, house)
        pending = await make_house(app, user)
        private_key = await photo_of(app, client, pending)
        await app.db.execute("UPDATE houses SET status = 'online' WHERE id = %s", house["id"])
        private_redis.stop()
        visitor = new_client()
        response = await visitor.get(app.images.url(key))
        assert response.code == 200 and response.body == app.images.path(key).read_bytes()
        assert (await visitor.get(app.images.url(private_key))).code == 404
        assert (await visitor.get(app.images.url("0a" + "0" * 30))).code == 404
