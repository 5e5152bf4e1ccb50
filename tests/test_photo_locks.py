"""Photo writes lock the listing row first (issue 9, item 2).

An INSERT into house_images takes a shared lock on the listing through the
foreign key, and the UPDATE of houses that follows needs an exclusive one: two
uploads at once deadlocked (MariaDB 1213, a 500). Every photo write now locks
the listing row first (models.houses.photo_write), retries 1205/1213, and
answers 409 with a message when the lock stays out of reach.
"""

from __future__ import annotations

import asyncio
import collections

import aiomysql
import pytest
from tornado.httpclient import AsyncHTTPClient

from models import houses
from models.db import Database
from tests.utils.client import Client, encode_multipart, json_body, text
from tests.utils.factories import make_house, make_user
from tests.utils.images import jpeg_bytes, media_files


@pytest.fixture
def wide_http(io_loop, http_server):
    """An HTTP client that really sends 40 requests at once (the default one queues past 10)."""
    http = AsyncHTTPClient(force_instance=True, max_clients=64)
    yield http
    http.close()


async def upload(client: Client, house_id: int, color: int) -> int:
    token = await client.xsrf_token()
    body, ctype = encode_multipart([("_xsrf", token)],
                                   [("image", f"{color}.jpg", jpeg_bytes((96, 64), (color, 80, 40)), "image/jpeg")])
    response = await client.fetch("POST", f"/houses/{house_id}/images", body=body, headers={
        "Content-Type": ctype, "X-XSRFToken": token, "Accept": "application/json"})
    if response.code == 409:
        assert "稍后再试" in json_body(response)["error"]
    return response.code


@pytest.mark.gen_test(timeout=120)
async def test_forty_concurrent_uploads_to_one_listing(app, login, wide_http, base_url):
    owner = await make_user(app)
    house = await make_house(app, owner, status="pending")  # photo writes apply at once (no revision)
    clients = []
    for _ in range(40):
        c = Client(wide_http, base_url)
        await login(c, owner)
        await c.xsrf_token()
        clients.append(c)
    before = set(media_files(app))
    codes = collections.Counter(await asyncio.gather(*(upload(c, house["id"], i * 6) for i, c in enumerate(clients))))
    assert codes[500] == 0, codes
    assert set(codes) <= {200, 409}, codes
    rows = await app.db.query("SELECT id, storage_key, position FROM house_images WHERE house_id = %s", house["id"])
    assert len(rows) == codes[200]
    assert len({r["position"] for r in rows}) == len(rows)  # no two photos took the same place
    cover = await app.db.scalar("SELECT cover_image_id FROM houses WHERE id = %s", house["id"])
    assert cover in {r["id"] for r in rows}
    # Every row has its files, and no refused upload left a file behind.
    expected = {path for r in rows for path in app.images.all_paths(r["storage_key"])}
    assert set(media_files(app)) - before == expected


@pytest.mark.gen_test(timeout=120)
async def test_concurrent_uploads_deletes_and_cover_changes(app, login, wide_http, base_url):
    owner = await make_user(app)
    house = await make_house(app, owner, status="pending")  # photo writes apply at once (no revision)
    seed = Client(wide_http, base_url)
    await login(seed, owner)
    for i in range(6):
        assert await upload(seed, house["id"], i * 30) == 200
    ids = [r["id"] for r in await houses.images(app.db, house["id"])]

    async def act(i: int) -> int:
        c = Client(wide_http, base_url)
        await login(c, owner)
        if i % 3 == 0:
            return await upload(c, house["id"], i)
        if i % 3 == 1:
            return (await c.post(f"/houses/{house['id']}/images/{ids[i % 6]}/delete", {})).code
        return (await c.post(f"/houses/{house['id']}/images/{ids[(i + 1) % 6]}/cover", {})).code

    codes = collections.Counter(await asyncio.gather(*(act(i) for i in range(30))))
    assert codes[500] == 0, codes
    assert set(codes) <= {200, 302, 404, 409}, codes  # 404: a photo already deleted by a twin
    rows = await houses.images(app.db, house["id"])
    cover = await app.db.scalar("SELECT cover_image_id FROM houses WHERE id = %s", house["id"])
    assert (cover is None) == (not rows) and (cover is None or cover in {r["id"] for r in rows})
    for r in rows:
        assert app.images.path(r["storage_key"]).exists()


@pytest.fixture
def impatient_db(app, io_loop, settings):
    """A second Database on the test database whose connections never wait for a row lock.

    With innodb_lock_wait_timeout = 0 a held lock fails the statement at once with
    1205, the error a long wait ends in, so every retry meets the real lock without
    waiting a second for it."""
    p = settings.mysql

    async def make():
        pool = await aiomysql.create_pool(host=p.host, port=p.port, user=p.user, password=p.password, db=p.db,
                                          minsize=1, maxsize=4, autocommit=True, charset="utf8mb4",
                                          init_command="SET SESSION innodb_lock_wait_timeout = 0")
        return Database(pool)
    db = io_loop.run_sync(make)
    yield db
    io_loop.run_sync(db.close)


@pytest.mark.gen_test(timeout=60)
async def test_lock_held_elsewhere_gives_409_with_message(app, impatient_db, client, login, settings):
    owner = await make_user(app)
    house = await make_house(app, owner)
    await login(client, owner)
    p = settings.mysql
    # Another writer holds the listing row (a real lock in MariaDB, not a mock).
    holder = await aiomysql.connect(host=p.host, port=p.port, user=p.user, password=p.password, db=p.db,
                                    autocommit=False)
    real_db = app.db
    try:
        await holder.begin()
        async with holder.cursor() as cur:
            await cur.execute("SELECT id FROM houses WHERE id = %s FOR UPDATE", (house["id"],))
        app.db = impatient_db  # the app's photo writes now meet the lock at once, on every attempt
        with pytest.raises(houses.ListingBusy):
            await houses.photo_write(impatient_db, house["id"], lambda tx, h: houses.set_cover(tx, h["id"], 1))
        response = await client.post(f"/houses/{house['id']}/images", files=[
            ("image", "a.jpg", jpeg_bytes(), "image/jpeg")], headers={"Accept": "application/json"})
        assert response.code == 409 and "稍后再试" in json_body(response)["error"]
        page = await client.post(f"/houses/{house['id']}/delete", {})
        assert page.code == 409 and "稍后再试" in text(page)
    finally:
        app.db = real_db
        await holder.rollback()
        holder.close()
    assert await app.db.scalar("SELECT COUNT(*) FROM house_images") == 0
    assert await app.db.scalar("SELECT status FROM houses WHERE id = %s", house["id"]) == "online"
    # Once the lock is free, the same upload goes through.
    ok = await client.post(f"/houses/{house['id']}/images", files=[("image", "a.jpg", jpeg_bytes(), "image/jpeg")],
                           headers={"Accept": "application/json"})
    assert ok.code == 200


@pytest.mark.gen_test
async def test_deleted_listing_photos_leave_the_disk(app, client, login):
    owner = await make_user(app)
    house = await make_house(app, owner, status="pending")  # photo writes apply at once (no revision)
    await login(client, owner)
    for i in range(2):
        await client.post(f"/houses/{house['id']}/images", files=[("image", f"{i}.jpg", jpeg_bytes(), "image/jpeg")])
    keys = [r["storage_key"] for r in await houses.images(app.db, house["id"])]
    assert len(keys) == 2 and all(app.images.path(k).exists() for k in keys)
    response = await client.post(f"/houses/{house['id']}/delete", {})
    assert response.code == 302
    assert await app.db.scalar("SELECT status FROM houses WHERE id = %s", house["id"]) == "deleted"
    assert await app.db.scalar("SELECT COUNT(*) FROM house_images WHERE house_id = %s", house["id"]) == 0
    for key in keys:
        assert not app.images.path(key, "l").exists() and not app.images.path(key, "t").exists()
    # Deleting twice is a 404, not an error.
    assert (await client.post(f"/houses/{house['id']}/delete", {})).code == 404
