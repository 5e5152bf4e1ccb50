"""Admin user management: search and paging, disable/enable with session revocation."""

from __future__ import annotations

import re

import pytest

from services import cache as cache_keys
from tests.utils.client import admin_client, text
from tests.utils.factories import PASSWORD, make_house, make_user


def listed_ids(body: str) -> list[int]:
    return [int(i) for i in re.findall(r'class="admin-user" data-user-id="(\d+)"', body)]


@pytest.mark.gen_test(timeout=30)
async def test_search_by_mobile_or_name_and_paging(app, new_client, login):
    admin, admin_user = await admin_client(app, new_client, login, mobile="13711110000", name="管理员甲")
    alice = await make_user(app, mobile="13711112222", name="爱丽丝")
    bob = await make_user(app, mobile="13822223333", name="鲍勃_旅行")
    others = [await make_user(app, name=f"路人{i:02d}") for i in range(23)]

    by_mobile = text(await admin.get("/admin/users?q=1112222"))
    assert listed_ids(by_mobile) == [alice["id"]]
    by_prefix = text(await admin.get("/admin/users?q=137111"))
    assert set(listed_ids(by_prefix)) == {admin_user["id"], alice["id"]}
    by_name = text(await admin.get("/admin/users?q=鲍勃"))
    assert listed_ids(by_name) == [bob["id"]] and "鲍勃_旅行" in by_name
    # LIKE wildcards in the query are taken literally.
    assert listed_ids(text(await admin.get("/admin/users?q=%25"))) == []
    assert listed_ids(text(await admin.get("/admin/users?q=_"))) == [bob["id"]]
    assert "没有找到用户" in text(await admin.get("/admin/users?q=不存在的人"))

    # 26 users, 20 a page, newest first.
    first = text(await admin.get("/admin/users"))
    second = text(await admin.get("/admin/users?page=2"))
    assert 'id="user-total">26<' in first
    assert len(listed_ids(first)) == 20 and len(listed_ids(second)) == 6
    everyone = listed_ids(first) + listed_ids(second)
    assert everyone == sorted(everyone, reverse=True)
    assert set(everyone) == {admin_user["id"], alice["id"], bob["id"], *(u["id"] for u in others)}
    assert 'href="/admin/users?page=2"' in first
    named = text(await admin.get("/admin/users?q=路人"))
    assert len(listed_ids(named)) == 20 and 'href="/admin/users?q=%E8%B7%AF%E4%BA%BA&amp;page=2"' in named
    for junk in ("page=0", "page=-1", "page=abc", "page=99999999999999"):
        assert (await admin.get(f"/admin/users?{junk}")).code == 200, junk


@pytest.mark.gen_test(timeout=30)
async def test_disable_revokes_sessions_hides_listings_blocks_login(app, new_client, login):
    victim = await make_user(app, name="被停用的房东")
    house = await make_house(app, victim, title="停用房东的房源")
    phone, laptop = new_client(), new_client()
    await login(phone, victim)
    await login(laptop, victim)
    assert len(await app.sessions.list_for_user(victim["id"])) == 2
    visitor = new_client()
    # Warm the caches that show the listing.
    assert (await visitor.get(f"/houses/{house['id']}")).code == 200
    assert "停用房东的房源" in text(await visitor.get("/"))
    assert "停用房东的房源" in text(await visitor.get("/houses"))

    admin, admin_user = await admin_client(app, new_client, login)
    response = await admin.post(f"/admin/users/{victim['id']}/disable", {"reason": "发布虚假房源"})
    assert response.code == 302 and response.headers["Location"] == f"/admin/users/{victim['id']}"
    assert await app.db.scalar("SELECT is_active FROM users WHERE id = %s", victim["id"]) == 0
    assert await app.db.query("SELECT admin_id, action, reason FROM admin_actions "
                              "WHERE target_type = 'user' AND target_id = %s", victim["id"]) == [
        {"admin_id": admin_user["id"], "action": "disable", "reason": "发布虚假房源"}]
    # Every session is gone: both browsers are logged out.
    assert await app.sessions.list_for_user(victim["id"]) == []
    for browser in (phone, laptop):
        page = await browser.get("/my/houses")
        assert page.code == 302 and page.headers["Location"].startswith("/login")
    # The listings are hidden from the public, caches included; the row itself is untouched.
    assert (await visitor.get(f"/houses/{house['id']}")).code == 404
    assert "停用房东的房源" not in text(await visitor.get("/"))
    assert "停用房东的房源" not in text(await visitor.get("/houses"))
    assert await app.db.scalar("SELECT status FROM houses WHERE id = %s", house["id"]) == "online"
    # Logging in is refused with a clear message.
    refused = await new_client().post("/login", {"mobile": victim["mobile"], "password": PASSWORD})
    assert refused.code == 403 and "停用" in text(refused)
    # The admin's page of the user shows the state and the history.
    page = text(await admin.get(f"/admin/users/{victim['id']}"))
    assert 'data-active="0"' in page and 'data-action="disable"' in page and "发布虚假房源" in page
    assert 'id="session-count">0<' in page and "停用房东的房源" in page

    enabled = await admin.post(f"/admin/users/{victim['id']}/enable", {})
    assert enabled.code == 302
    assert await app.db.scalar("SELECT is_active FROM users WHERE id = %s", victim["id"]) == 1
    assert (await visitor.get(f"/houses/{house['id']}")).code == 200
    assert "停用房东的房源" in text(await visitor.get("/houses"))
    back = new_client()
    assert (await back.post("/login", {"mobile": victim["mobile"], "password": PASSWORD})).code == 302
    assert (await back.get("/my/houses")).code == 200
    actions = await app.db.query("SELECT action FROM admin_actions WHERE target_id = %s ORDER BY id", victim["id"])
    assert [a["action"] for a in actions] == ["disable", "enable"]


@pytest.mark.gen_test
async def test_disable_and_enable_refusals(app, new_client, login):
    admin, admin_user = await admin_client(app, new_client, login)
    user = await make_user(app)
    assert (await admin.post(f"/admin/users/{admin_user['id']}/disable", {})).code == 409
    assert (await admin.post(f"/admin/users/{user['id']}/enable", {})).code == 409  # already active
    assert (await admin.post(f"/admin/users/{user['id']}/disable", {})).code == 302
    assert (await admin.post(f"/admin/users/{user['id']}/disable", {})).code == 409  # already disabled
    assert (await admin.post("/admin/users/999999/disable", {})).code == 404
    assert (await admin.get("/admin/users/999999")).code == 404
    assert await app.db.scalar("SELECT is_active FROM users WHERE id = %s", admin_user["id"]) == 1
    assert await app.db.scalar("SELECT COUNT(*) FROM admin_actions") == 1


@pytest.mark.gen_test
async def test_disable_from_the_list_returns_to_the_list(app, new_client, login):
    admin, _ = await admin_client(app, new_client, login)
    user = await make_user(app, name="列表里的用户")
    page = text(await admin.get("/admin/users?q=列表"))
    assert f'action="/admin/users/{user["id"]}/disable"' in page
    next_value = re.search(r'name="next" value="([^"]+)"', page).group(1).replace("&amp;", "&")
    response = await admin.post(f"/admin/users/{user['id']}/disable", {"next": next_value})
    assert response.code == 302 and response.headers["Location"] == next_value
    assert "已停用" in text(await admin.get(next_value))
    # A next outside the admin area is ignored.
    response = await admin.post(f"/admin/users/{user['id']}/enable", {"next": "https://evil.example/"})
    assert response.headers["Location"] == f"/admin/users/{user['id']}"


@pytest.mark.gen_test
async def test_disabling_drops_every_cached_listing_page_of_the_user(app, new_client, login):
    owner = await make_user(app)
    houses = [await make_house(app, owner, title=f"房源{i}") for i in range(3)]
    visitor = new_client()
    for house in houses:
        assert (await visitor.get(f"/houses/{house['id']}")).code == 200
    keys = [cache_keys.house_key(h["id"]) for h in houses]
    assert await app.redis.exists(*keys) == 3
    admin, _ = await admin_client(app, new_client, login)
    assert (await admin.post(f"/admin/users/{owner['id']}/disable", {})).code == 302
    assert await app.redis.exists(*keys) == 0
    for house in houses:
        assert (await visitor.get(f"/houses/{house['id']}")).code == 404


@pytest.mark.gen_test
async def test_huge_user_ids_are_404(app, new_client, login):
    huge = "999999999999999999"  # 18 digits: the most the routes accept
    admin, _ = await admin_client(app, new_client, login)
    assert (await admin.get(f"/admin/users/{huge}")).code == 404
    for action in ("disable", "enable"):
        assert (await admin.post(f"/admin/users/{huge}/{action}", {})).code == 404, action
    assert await app.db.scalar("SELECT COUNT(*) FROM admin_actions") == 0


@pytest.mark.gen_test
async def test_unicode_digit_page_of_the_user_list_is_the_first_page(app, new_client, login):
    admin, _ = await admin_client(app, new_client, login)
    assert (await admin.get("/admin/users?page=%C2%B2")).code == 200
