"""Listings: publish, edit, delete, photos, home, search, listing page, my listings, cache."""

from __future__ import annotations

import decimal
import re

import pytest

from handlers.base import page_number, small_int
from services import cache as cache_keys
from services.house_form import parse_yuan
from tests.utils.client import admin_client, json_body, logged_in, text
from tests.utils.factories import house_form, make_house, make_user
from tests.utils.images import jpeg_bytes, media_files
from tests.utils.pages import field_errors, house_id_of

HUGE_ID = "999999999999999999"  # 18 digits: the most the routes accept


async def approve_as_admin(app, new_client, login, house_id: int):
    """Approve *house_id* the way an admin does: POST /admin/houses/<id>/approve in an admin session."""
    admin, _ = await admin_client(app, new_client, login)
    response = await admin.post(f"/admin/houses/{house_id}/approve", {})
    assert response.code == 302, text(response)[:500]
    assert await app.db.scalar("SELECT status FROM houses WHERE id = %s", house_id) == "online"


@pytest.fixture
def owner_client(app, client, login, io_loop):
    """A logged-in, verified landlord: (client, user)."""
    return io_loop.run_sync(lambda: logged_in(client, app, login))


# -- publish -----------------------------------------------------------------

@pytest.mark.gen_test
async def test_new_form_shows_fields(owner_client):
    client, _ = owner_client
    page = await client.get("/houses/new")
    body = text(page)
    assert page.code == 200
    for field in ("title", "price", "area_id", "address", "room_count", "acreage", "unit", "capacity",
                  "beds", "deposit", "min_days", "max_days", "facility"):
        assert f'name="{field}"' in body
    assert 'name="_xsrf"' in body and "朝阳区" in body and "无线网络" in body


@pytest.mark.gen_test
async def test_publish_stores_fen_and_facilities(owner_client, app):
    client, user = owner_client
    form = list(house_form(price="288.50", deposit="500").items()) + [("facility", "1"), ("facility", "3")]
    response = await client.post("/houses/new", form)
    house_id = house_id_of(response)
    row = await app.db.queryone("SELECT * FROM houses WHERE id = %s", house_id)
    assert row["owner_id"] == user["id"] and row["price_fen"] == 28850 and row["deposit_fen"] == 50000
    assert row["area_id"] == 110105 and row["capacity"] == 3 and row["max_days"] == 0
    facilities = await app.db.query("SELECT facility_id FROM house_facilities WHERE house_id = %s "
                                     "ORDER BY facility_id", house_id)
    assert [f["facility_id"] for f in facilities] == [1, 3]


@pytest.mark.gen_test
@pytest.mark.parametrize("field,value,message", [
    ("title", "", "标题"),
    ("title", "长" * 65, "标题"),
    ("price", "abc", "每晚价格"),
    ("price", "-5", "每晚价格"),
    ("price", "1.234", "每晚价格"),
    ("price", "0", "每晚价格"),
    ("deposit", "x", "押金"),
    ("area_id", "", "区域"),
    ("area_id", "999999", "区域"),
    ("area_id", "110100", "区域"),  # a city code, not a district the site knows
    ("address", "", "地址"),
    ("room_count", "0", "房间数"),
    ("acreage", "abc", "面积"),
    ("capacity", "100", "可住人数"),
    ("min_days", "0", "最少入住"),
    ("max_days", "-1", "最多入住"),
    ("max_days", "2", "最多入住"),  # below min_days=3 below
    ("facility", "999", "设施"),
])
async def test_publish_validation(owner_client, app, field, value, message):
    client, _ = owner_client
    form = house_form(**{field: value})
    if field == "max_days":
        form["min_days"] = "3"
    response = await client.post("/houses/new", form)
    assert response.code == 400
    assert message in field_errors(text(response))[field]
    assert await app.db.scalar("SELECT COUNT(*) FROM houses") == 0
    # the form comes back filled in
    if field != "title":
        assert 'value="阳光两居室"' in text(response)


@pytest.mark.gen_test
async def test_publish_requires_login(client, app):
    # tornado.web.authenticated redirects a GET to the login page but refuses any other method.
    response = await client.post("/houses/new", house_form())
    assert response.code == 403
    assert await app.db.scalar("SELECT COUNT(*) FROM houses") == 0


# -- edit / delete / ownership ----------------------------------------------

@pytest.mark.gen_test
async def test_edit_updates_and_invalidates_cache(owner_client, app, new_client, login):
    client, user = owner_client
    house = await make_house(app, user, title="旧标题")
    # Warm the caches: listing page, home page and a search.
    assert "旧标题" in text(await client.get(f"/houses/{house['id']}"))
    assert "旧标题" in text(await client.get("/"))
    assert "旧标题" in text(await client.get("/houses?area_id=110105"))
    assert await app.redis.exists(cache_keys.house_key(house["id"]), cache_keys.HOME_KEY) == 2
    response = await client.post(f"/houses/{house['id']}/edit",
                                 list(house_form(title="新标题", price="399").items()) + [("facility", "2")])
    assert response.code == 302
    row = await app.db.queryone("SELECT title, price_fen, status FROM houses WHERE id = %s", house["id"])
    # A new title waits in a revision: the listing stays online with the approved title,
    # and the price applies at once.
    assert row == {"title": "旧标题", "price_fen": 39900, "status": "online"}
    assert await app.db.scalar("SELECT title FROM house_revisions WHERE house_id = %s", house["id"]) == "新标题"
    page = text(await client.get(f"/houses/{house['id']}"))
    assert "旧标题" in page and "新标题" not in page and 'data-price-fen="39900"' in page
    # The cached home page and search were dropped: the new price shows, the held title does not.
    home = text(await client.get("/"))
    assert "旧标题" in home and "新标题" not in home
    assert 'data-price-fen="39900"' in text(await client.get("/houses?area_id=110105"))
    admin, _ = await admin_client(app, new_client, login)
    assert (await admin.post(f"/admin/houses/{house['id']}/revision/approve", {})).code == 302
    assert "新标题" in text(await client.get("/"))
    search = text(await client.get("/houses?area_id=110105"))
    assert "新标题" in search and 'data-price-fen="39900"' in search


@pytest.mark.gen_test
async def test_edit_form_prefilled(owner_client, app):
    client, user = owner_client
    house = await make_house(app, user, price_fen=18850, facilities=(5,))
    body = text(await client.get(f"/houses/{house['id']}/edit"))
    assert 'value="188.50"' in body and 'id="f5" checked' in body


@pytest.mark.gen_test
async def test_edit_validation_error_keeps_row(owner_client, app):
    client, user = owner_client
    house = await make_house(app, user, title="原标题")
    response = await client.post(f"/houses/{house['id']}/edit", house_form(price="free"))
    assert response.code == 400 and "price" in field_errors(text(response))
    assert await app.db.scalar("SELECT title FROM houses WHERE id = %s", house["id"]) == "原标题"


@pytest.mark.gen_test
async def test_other_users_listing_is_forbidden(app, client, new_client, login):
    owner = await make_user(app)
    other = await make_user(app)
    house = await make_house(app, owner)
    await login(client, other)
    image_id = await app.db.insert("INSERT INTO house_images (house_id, storage_key, width, height) "
                                   "VALUES (%s, %s, 10, 10)", house["id"], "a" * 32)
    for path in (f"/houses/{house['id']}/edit",):
        assert (await client.get(path)).code == 403
    for path, data in ((f"/houses/{house['id']}/edit", house_form(title="偷改")),
                       (f"/houses/{house['id']}/delete", {}),
                       (f"/houses/{house['id']}/images/{image_id}/delete", {}),
                       (f"/houses/{house['id']}/images/{image_id}/cover", {})):
        assert (await client.post(path, data)).code == 403, path
    upload = await client.post(f"/houses/{house['id']}/images", files=[("image", "a.jpg", jpeg_bytes(), "image/jpeg")])
    assert upload.code == 403
    row = await app.db.queryone("SELECT title, status FROM houses WHERE id = %s", house["id"])
    assert row == {"title": "测试房源", "status": "online"}
    assert await app.db.scalar("SELECT COUNT(*) FROM house_images WHERE house_id = %s", house["id"]) == 1


@pytest.mark.gen_test
async def test_unknown_listing_is_404(owner_client):
    client, _ = owner_client
    assert (await client.get("/houses/999999")).code == 404
    assert (await client.get("/houses/999999/edit")).code == 404
    assert (await client.post("/houses/999999/delete", {})).code == 404


@pytest.mark.gen_test
async def test_delete_is_soft_and_hides_listing(owner_client, app):
    client, user = owner_client
    house = await make_house(app, user, title="要删除的房源")
    assert (await client.get(f"/houses/{house['id']}")).code == 200
    response = await client.post(f"/houses/{house['id']}/delete", {})
    assert response.code == 302 and response.headers["Location"] == "/my/houses"
    assert await app.db.scalar("SELECT status FROM houses WHERE id = %s", house["id"]) == "deleted"
    assert (await client.get(f"/houses/{house['id']}")).code == 404
    assert "要删除的房源" not in text(await client.get("/houses"))
    assert "要删除的房源" not in text(await client.get("/my/houses"))


# -- photos ------------------------------------------------------------------

@pytest.mark.gen_test
async def test_upload_photos_sets_cover_and_shows_them(owner_client, app):
    client, user = owner_client
    # A listing being prepared (pending): its photo changes apply at once.
    house = await make_house(app, user, status="pending")
    response = await client.post(f"/houses/{house['id']}/images", files=[
        ("image", "one.jpg", jpeg_bytes(), "image/jpeg"),
        ("image", "two.jpg", jpeg_bytes(color=(10, 200, 10)), "image/jpeg")])
    assert response.code == 302
    images = await app.db.query("SELECT * FROM house_images WHERE house_id = %s ORDER BY position", house["id"])
    assert len(images) == 2 and [i["position"] for i in images] == [0, 1]
    assert await app.db.scalar("SELECT cover_image_id FROM houses WHERE id = %s", house["id"]) == images[0]["id"]
    for image in images:
        assert app.images.path(image["storage_key"], "l").exists()
        assert app.images.path(image["storage_key"], "t").exists()
    page = text(await client.get(f"/houses/{house['id']}"))
    assert app.images.variant_url(images[1]["storage_key"], 480, "webp") in page
    served = await client.get(app.images.url(images[0]["storage_key"], "t"))
    assert served.code == 200 and served.body[:2] == b"\xff\xd8"


@pytest.mark.gen_test
async def test_upload_json_answer_for_xhr(owner_client, app):
    client, user = owner_client
    # A listing being prepared (pending): its photo changes apply at once.
    house = await make_house(app, user, status="pending")
    ok = await client.post(f"/houses/{house['id']}/images", files=[("image", "a.png", jpeg_bytes(), "image/png")],
                           headers={"Accept": "application/json"})
    assert ok.code == 200 and json_body(ok) == {"ok": True, "count": 1}
    bad = await client.post(f"/houses/{house['id']}/images", files=[("image", "a.jpg", b"not an image", "image/jpeg")],
                            headers={"Accept": "application/json"})
    assert bad.code == 400 and "JPEG" in json_body(bad)["error"]


@pytest.mark.gen_test
async def test_fake_image_rejected_nothing_stored(owner_client, app):
    client, user = owner_client
    house = await make_house(app, user)
    before = media_files(app)
    response = await client.post(f"/houses/{house['id']}/images", files=[
        ("image", "good.jpg", jpeg_bytes(), "image/jpeg"),
        ("image", "evil.jpg", b"<?php echo 'hi'; ?>", "image/jpeg")])
    assert response.code == 400 and "evil.jpg" in text(response)
    assert await app.db.scalar("SELECT COUNT(*) FROM house_images") == 0
    assert media_files(app) == before  # the good file of the same request was removed too


@pytest.mark.gen_test
async def test_oversized_image_rejected_nothing_stored(owner_client, app):
    client, user = owner_client
    house = await make_house(app, user)
    before = media_files(app)
    big = jpeg_bytes() + b"\0" * (app.config.upload_max_bytes + 1)
    response = await client.post(f"/houses/{house['id']}/images", files=[("image", "big.jpg", big, "image/jpeg")])
    assert response.code == 400 and "10 MB" in text(response)
    assert await app.db.scalar("SELECT COUNT(*) FROM house_images") == 0
    assert media_files(app) == before


@pytest.mark.gen_test
async def test_upload_without_file(owner_client, app):
    client, user = owner_client
    house = await make_house(app, user)
    response = await client.post(f"/houses/{house['id']}/images", files=[("other", "a.txt", b"x", "text/plain")])
    assert response.code == 400 and "请选择" in text(response)


@pytest.mark.gen_test
async def test_cover_and_delete_photo(owner_client, app):
    client, user = owner_client
    # A listing being prepared (pending): its photo changes apply at once.
    house = await make_house(app, user, status="pending")
    await client.post(f"/houses/{house['id']}/images", files=[
        ("image", "1.jpg", jpeg_bytes(), "image/jpeg"), ("image", "2.jpg", jpeg_bytes(), "image/jpeg")])
    first, second = await app.db.query("SELECT id, storage_key FROM house_images WHERE house_id = %s "
                                       "ORDER BY position", house["id"])
    assert (await client.post(f"/houses/{house['id']}/images/{second['id']}/cover", {})).code == 302
    assert await app.db.scalar("SELECT cover_image_id FROM houses WHERE id = %s", house["id"]) == second["id"]
    assert (await client.post(f"/houses/{house['id']}/images/{second['id']}/delete", {})).code == 302
    # the cover moves to the remaining photo and the deleted one's files are gone
    assert await app.db.scalar("SELECT cover_image_id FROM houses WHERE id = %s", house["id"]) == first["id"]
    assert not app.images.path(second["storage_key"]).exists()
    assert app.images.path(first["storage_key"]).exists()
    assert (await client.post(f"/houses/{house['id']}/images/{second['id']}/delete", {})).code == 404
    assert (await client.post(f"/houses/{house['id']}/images/{second['id']}/cover", {})).code == 404


@pytest.mark.gen_test
async def test_photo_of_another_listing_cannot_be_cover(owner_client, app):
    client, user = owner_client
    mine = await make_house(app, user)
    other_owner = await make_user(app)
    theirs = await make_house(app, other_owner)
    image_id = await app.db.insert("INSERT INTO house_images (house_id, storage_key, width, height) "
                                   "VALUES (%s, %s, 10, 10)", theirs["id"], "b" * 32)
    assert (await client.post(f"/houses/{mine['id']}/images/{image_id}/cover", {})).code == 404
    assert (await client.post(f"/houses/{mine['id']}/images/{image_id}/delete", {})).code == 404
    assert await app.db.scalar("SELECT COUNT(*) FROM house_images WHERE id = %s", image_id) == 1


# -- public pages ------------------------------------------------------------

@pytest.mark.gen_test
async def test_home_lists_latest_and_top(app, client):
    owner = await make_user(app, name="房东甲")
    await make_house(app, owner, title="冷门小屋")
    popular = await make_house(app, owner, title="人气大宅")
    await app.db.execute("UPDATE houses SET order_count = 9 WHERE id = %s", popular["id"])
    await make_house(app, owner, title="待审核房源", status="pending")
    body = text(await client.get("/"))
    assert 'id="top-carousel"' in body and "人气大宅" in body and "冷门小屋" in body
    assert "待审核房源" not in body
    assert body.index("人气大宅") < body.index("冷门小屋")  # the carousel comes first
    assert 'name="area_id"' in body and 'name="sd"' in body and 'name="ed"' in body


@pytest.mark.gen_test
async def test_home_cache_invalidated_by_publish_and_approval(owner_client, app, new_client, login):
    client, _ = owner_client
    assert "还没有房源" in text(await client.get("/"))
    assert await app.redis.exists(cache_keys.HOME_KEY)
    response = await client.post("/houses/new", house_form(title="刚发布的房源"))
    house_id = house_id_of(response)
    # A new listing waits for review: the owner sees it, the public does not.
    assert await app.db.scalar("SELECT status FROM houses WHERE id = %s", house_id) == "pending"
    assert not await app.redis.exists(cache_keys.HOME_KEY)  # publishing dropped the cached home page
    assert "刚发布的房源" not in text(await client.get("/"))
    assert 'data-status="pending"' in text(await client.get("/my/houses"))
    assert (await new_client().get(f"/houses/{house_id}")).code == 404
    await approve_as_admin(app, new_client, login, house_id)
    assert "刚发布的房源" in text(await client.get("/"))
    assert (await new_client().get(f"/houses/{house_id}")).code == 200


@pytest.mark.gen_test
async def test_listing_page_shows_details(app, client):
    owner = await make_user(app, name="好房东")
    house = await make_house(app, owner, title="湖景房", address="西湖区湖边路 1 号", area_id=330106,
                             price_fen=45600, facilities=(1, 23))
    body = text(await client.get(f"/houses/{house['id']}"))
    for expected in ("湖景房", "杭州市", "好房东", "¥456", "无线网络", "浴缸"):
        assert expected in body, expected
    # The street address is for guests with an accepted stay (tests/test_booking_flow.py).
    assert "西湖区湖边路 1 号" not in body


@pytest.mark.gen_test
async def test_listing_page_escapes_user_text(app, client):
    owner = await make_user(app)
    house = await make_house(app, owner, title="<script>alert(1)</script>")
    body = text(await client.get(f"/houses/{house['id']}"))
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body


@pytest.mark.gen_test
async def test_my_houses_lists_own_with_status(owner_client, app):
    client, user = owner_client
    await make_house(app, user, title="我的上线房源")
    await make_house(app, user, title="我的待审房源", status="pending")
    other = await make_user(app)
    await make_house(app, other, title="别人的房源")
    body = text(await client.get("/my/houses"))
    assert "我的上线房源" in body and "我的待审房源" in body and "别人的房源" not in body
    assert 'data-status="online"' in body and 'data-status="pending"' in body


@pytest.mark.gen_test
async def test_my_houses_requires_login(client):
    response = await client.get("/my/houses")
    assert response.code == 302 and response.headers["Location"].startswith("/login?next=")


# -- search ------------------------------------------------------------------

@pytest.fixture
def search_data(app, io_loop):
    async def build():
        owner = await make_user(app)
        rows = {
            "cheap": await make_house(app, owner, title="便宜房", price_fen=10000, capacity=2, area_id=110105,
                                      facilities=(1,)),
            "mid": await make_house(app, owner, title="中档房", price_fen=30000, capacity=4, area_id=110105,
                                    facilities=(1, 3)),
            "dear": await make_house(app, owner, title="豪华房", price_fen=90000, capacity=6, area_id=440305,
                                     facilities=(3,)),
            "hidden": await make_house(app, owner, title="下线房", price_fen=20000, status="offline"),
        }
        await app.db.execute("UPDATE houses SET order_count = 5 WHERE id = %s", rows["cheap"]["id"])
        return rows
    return io_loop.run_sync(build)


def titles(body: str) -> list[str]:
    return re.findall(r'text-decoration-none" href="/houses/\d+(?:\?[^"]*)?">([^<]+)</a>', body)


def prices(body: str) -> list[int]:
    return [int(p) for p in re.findall(r'data-price-fen="(\d+)"', body)]


@pytest.mark.gen_test
@pytest.mark.parametrize("query,expected", [
    ("", {"便宜房", "中档房", "豪华房"}),
    ("area_id=110105", {"便宜房", "中档房"}),
    ("price_min=150&price_max=500", {"中档房"}),
    ("guests=5", {"豪华房"}),
    ("capacity=5", {"豪华房"}),  # the old name of guests still works
    ("facility=1&facility=3", {"中档房"}),
    ("facility=3", {"中档房", "豪华房"}),
    ("facility=999", {"便宜房", "中档房", "豪华房"}),  # unknown facility ignored
    ("area_id=440305&price_max=100", set()),
])
async def test_search_filters(client, search_data, query, expected):
    response = await client.get(f"/houses?{query}")
    assert response.code == 200
    assert set(titles(text(response))) == expected


@pytest.mark.gen_test
@pytest.mark.parametrize("sort,order", [
    ("new", ["豪华房", "中档房", "便宜房"]),
    ("booking", ["便宜房", "豪华房", "中档房"]),
    ("price-inc", ["便宜房", "中档房", "豪华房"]),
    ("price-des", ["豪华房", "中档房", "便宜房"]),
    ("junk", ["豪华房", "中档房", "便宜房"]),
])
async def test_search_sorts(client, search_data, sort, order):
    body = text(await client.get(f"/houses?sort={sort}"))
    assert titles(body) == order
    if sort == "price-inc":
        assert prices(body) == [10000, 30000, 90000]


@pytest.mark.gen_test
@pytest.mark.parametrize("query,field", [
    ("price_min=abc", "price_min"),
    ("price_min=500&price_max=100", "price_max"),
    ("guests=-1", "guests"),
    ("capacity=-1", "guests"),  # the old name reports under the field the form shows
    ("area_id=abc", "area_id"),
    ("sd=2020-01-01&ed=2020-01-03", "dates"),
    ("sd=2999-01-05&ed=2999-01-02", "dates"),
    ("sd=notadate&ed=2999-01-02", "dates"),
    ("sd=2999-01-05", "dates"),
])
async def test_search_bad_parameters_are_400_with_message(client, search_data, query, field):
    response = await client.get(f"/houses?{query}")
    assert response.code == 400
    assert field in field_errors(text(response))


@pytest.mark.gen_test
async def test_search_junk_never_500(client, search_data):
    # Junk that only pages, sorts or filters by facility is ignored; a bad filter value is a 400.
    ignored = ("page=-3", "page=abc", "page=99999999999", "sort[]=x", "facility=abc", "x=%ff%fe")
    refused = ("area_id=" + "9" * 40, "price_max=" + "9" * 40, "capacity=1e9")
    for query in ignored:
        assert (await client.get(f"/houses?{query}")).code == 200, query
    for query in refused:
        assert (await client.get(f"/houses?{query}")).code == 400, query


@pytest.mark.gen_test
async def test_search_pagination(app, client):
    owner = await make_user(app)
    for i in range(14):
        await make_house(app, owner, title=f"房源{i:02d}")
    first = text(await client.get("/houses?sort=price-inc"))
    second = text(await client.get("/houses?sort=price-inc&page=2"))
    assert len(titles(first)) == 12 and len(titles(second)) == 2
    assert not set(titles(first)) & set(titles(second))
    assert 'href="/houses?sort=price-inc&amp;page=2"' in first


@pytest.mark.gen_test
async def test_search_results_cached_and_refreshed(app, client):
    owner = await make_user(app)
    await make_house(app, owner, title="第一套")
    assert titles(text(await client.get("/houses"))) == ["第一套"]
    # A row written behind the app's back is not seen: the result is cached...
    await app.db.execute("UPDATE houses SET title = '改名' WHERE owner_id = %s", owner["id"])
    assert titles(text(await client.get("/houses"))) == ["第一套"]
    # ...until a write through the app invalidates every search at once.
    await app.cache.invalidate_house(None)
    assert titles(text(await client.get("/houses"))) == ["改名"]


@pytest.mark.gen_test
async def test_api_areas_and_houses(app, client, search_data):
    areas = json_body(await client.get("/api/v1/areas"))["areas"]
    cities = {a["city"] for a in areas}
    assert {"北京市", "上海市", "广州市", "深圳市", "成都市", "杭州市"} <= cities
    result = json_body(await client.get("/api/v1/houses?sort=price-inc"))
    assert result["total"] == 3 and [h["price_fen"] for h in result["houses"]] == [10000, 30000, 90000]
    bad = await client.get("/api/v1/houses?price_min=abc")
    assert bad.code == 400 and "error" in json_body(bad)


# -- digit-like characters, long digit strings, huge numbers and ids ----------------

def test_small_int_and_page_number_refuse_what_int_would_refuse():
    assert small_int("42") == 42
    for raw in ("²", "１２", "٣", "", None, "-1", "1.5", "9" * 19, "9" * 5000):
        assert small_int(raw) is None, raw
    assert page_number("3", 500) == 3
    assert page_number("9999", 500) == 500
    for raw in ("²", "0", "", "x", "9" * 5000):
        assert page_number(raw, 500) == 1, raw


@pytest.mark.gen_test
async def test_unicode_digits_in_search_and_publish_are_not_a_500(client, app, login):
    user = await make_user(app)
    await make_house(app, user)
    assert (await client.get("/houses?page=%C2%B2&facility=%C2%B2")).code == 200
    assert (await client.get("/houses?facility=" + "9" * 5000)).code == 200
    api = await client.get("/api/v1/houses?page=%C2%B2")
    assert api.code == 200 and json_body(api)["page"] == 1
    await login(client, user)
    refused = await client.post("/houses/new", [*house_form().items(), ("facility", "²")])
    assert refused.code == 400 and "设施选项无效" in text(refused)
    assert await app.db.scalar("SELECT COUNT(*) FROM houses WHERE owner_id = %s", user["id"]) == 1


def test_parse_yuan_refuses_huge_exponents_before_any_arithmetic():
    # Multiplying 1E+100000000 by 100 or turning it into an int would take minutes and
    # gigabytes. Under a context whose exponent limit is tiny, any such arithmetic raises
    # decimal.Overflow instead, so a ValueError here means the value was refused first.
    with decimal.localcontext() as ctx:
        ctx.Emax = 20
        ctx.traps[decimal.Overflow] = True
        for raw in ("1E+999990", "1E+100000000", "1000000000000.01"):
            with pytest.raises(ValueError):
                parse_yuan(raw)
        assert parse_yuan("1e2") == 10000 and parse_yuan("188.5") == 18850


@pytest.mark.gen_test
@pytest.mark.parametrize("query", ["price_min=1E%2B999990", "price_max=1E%2B100000000"])
async def test_search_with_a_huge_price_is_a_400(client, query):
    response = await client.get(f"/houses?{query}")
    assert response.code == 400 and "价格须为" in text(response)
    assert (await client.get(f"/api/v1/houses?{query}")).code == 400


@pytest.mark.gen_test
async def test_huge_listing_and_photo_ids_are_404(client, app, login):
    owner = await make_user(app)
    house = await make_house(app, owner)
    for path in (f"/houses/{HUGE_ID}", f"/api/v1/houses/{HUGE_ID}/availability"):
        assert (await client.get(path)).code == 404, path
    await login(client, owner)
    assert (await client.get(f"/houses/{HUGE_ID}/edit")).code == 404
    for path in (f"/houses/{HUGE_ID}/edit", f"/houses/{HUGE_ID}/delete",
                 f"/houses/{house['id']}/images/{HUGE_ID}/delete", f"/houses/{house['id']}/images/{HUGE_ID}/cover"):
        assert (await client.post(path, house_form())).code == 404, path
