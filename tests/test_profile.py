"""Profile: display name, avatar, password change, real-name verification, sessions, publishing."""

from __future__ import annotations

import asyncio
import re

import pytest
from PIL import Image

from handlers.base import SESSION_COOKIE
from handlers.profile import describe_user_agent, session_id
from models import profile as profile_model
from tests.utils.client import logged_in, text
from tests.utils.factories import PASSWORD, VALID_ID_CARD, house_form, make_house, make_user, next_mobile
from tests.utils.images import media_files, png_bytes
from tests.utils.pages import field_errors

NEW_PASSWORD = "Brand#new2025"


async def fresh_user(app, user_id: int) -> dict:
    return await app.db.queryone("SELECT * FROM users WHERE id = %s", user_id)


@pytest.fixture
def user_client(app, client, login, io_loop):
    """(client, user): a logged-in, verified user."""
    return io_loop.run_sync(lambda: logged_in(client, app, login))


# -- access --------------------------------------------------------------------

@pytest.mark.gen_test
@pytest.mark.parametrize("path", ["/profile", "/profile/auth", "/profile/sessions"])
async def test_profile_pages_need_login(client, app, path):
    response = await client.get(path)
    assert response.code == 302 and response.headers["Location"].startswith("/login?next=")


@pytest.mark.gen_test
async def test_profile_page_shows_the_user(user_client):
    client, user = user_client
    page = await client.get("/profile")
    body = text(page)
    assert page.code == 200 and user["mobile"] in body and "已实名认证" in body
    assert 'action="/profile/avatar"' in body and 'enctype="multipart/form-data"' in body
    assert 'action="/profile/password"' in body and 'name="_xsrf"' in body


# -- display name --------------------------------------------------------------

@pytest.mark.gen_test
async def test_change_name(user_client, app):
    client, user = user_client
    response = await client.post("/profile", {"name": "  小  明的家 "})
    assert response.code == 302 and response.headers["Location"] == "/profile"
    assert (await fresh_user(app, user["id"]))["name"] == "小 明的家"
    page = await client.get("/profile")
    assert '<span class="user-name">小 明的家</span>' in text(page) and "名字已保存" in text(page)


@pytest.mark.gen_test
@pytest.mark.parametrize("name,message", [
    ("小", "2–32"),
    ("", "2–32"),
    ("名" * 33, "2–32"),
    ("13912345678", "全是数字"),
    ("123", "全是数字"),
    ("ab\u200bcd", "不可见字符"),  # zero-width space (Tornado already turns \x00–\x1f into spaces)
])
async def test_name_rules(user_client, app, name, message):
    client, user = user_client
    response = await client.post("/profile", {"name": name})
    assert response.code == 400
    assert message in field_errors(text(response)).get("name", "")
    assert (await fresh_user(app, user["id"]))["name"] == user["name"]


@pytest.mark.gen_test
async def test_name_limits_are_inclusive(user_client, app):
    client, user = user_client
    for name in ("阿明", "名" * 32):
        assert (await client.post("/profile", {"name": name})).code == 302
        assert (await fresh_user(app, user["id"]))["name"] == name


@pytest.mark.gen_test
async def test_unchanged_all_digit_name_is_left_alone(app, client, login):
    mobile = next_mobile()
    legacy = await make_user(app, mobile=mobile, name=mobile)  # named after the mobile, as accounts once were
    assert legacy["name"] == legacy["mobile"]
    await login(client, legacy)
    assert (await client.post("/profile", {"name": legacy["mobile"]})).code == 302
    renamed = await make_user(app, name="阿明")
    await login(client, renamed)
    response = await client.post("/profile", {"name": renamed["mobile"]})
    assert response.code == 400 and "全是数字" in field_errors(text(response))["name"]


@pytest.mark.gen_test
async def test_name_must_be_unique(user_client, app):
    client, user = user_client
    await make_user(app, name="Alice")
    for taken in ("Alice", "alice"):  # the collation compares case-insensitively
        response = await client.post("/profile", {"name": taken})
        assert response.code == 400 and "已被其他用户使用" in field_errors(text(response))["name"]
        assert f'value="{taken}"' in text(response)
    assert (await fresh_user(app, user["id"]))["name"] == user["name"]


@pytest.mark.gen_test
async def test_name_change_refreshes_cached_listing(user_client, app, new_client):
    client, user = user_client
    house = await make_house(app, user)
    visitor = new_client()
    assert user["name"] in text(await visitor.get(f"/houses/{house['id']}"))  # now cached
    assert (await client.post("/profile", {"name": "新房东"})).code == 302
    assert "新房东" in text(await visitor.get(f"/houses/{house['id']}"))


# -- avatar --------------------------------------------------------------------

@pytest.mark.gen_test
async def test_avatar_upload_is_square_and_shown(user_client, app, new_client):
    client, user = user_client
    house = await make_house(app, user)
    visitor = new_client()
    assert "avatar-md" not in text(await visitor.get(f"/houses/{house['id']}"))  # cached without avatar
    response = await client.post("/profile/avatar", files=[("avatar", "me.png", png_bytes((300, 200)), "image/png")])
    assert response.code == 302 and response.headers["Location"] == "/profile"
    key = (await fresh_user(app, user["id"]))["avatar_key"]
    assert key and re.fullmatch(r"[0-9a-f]{32}", key)
    with Image.open(app.images.path(key, "l")) as large, Image.open(app.images.path(key, "t")) as thumb:
        assert large.size == (200, 200) and thumb.size == (160, 160)
    url = app.images.url(key, "t")
    assert f'class="avatar-sm" src="{url}"' in text(await client.get("/profile"))  # header
    assert url in text(await visitor.get(f"/houses/{house['id']}"))  # the host on the listing
    assert (await client.get(url)).code == 200


@pytest.mark.gen_test
async def test_new_avatar_replaces_old_files(user_client, app):
    client, user = user_client
    files_before = set(media_files(app))  # the media folder is shared by the session's tests
    await client.post("/profile/avatar", files=[("avatar", "a.png", png_bytes(), "image/png")])
    old_key = (await fresh_user(app, user["id"]))["avatar_key"]
    await client.post("/profile/avatar", files=[("avatar", "b.png", png_bytes(color=(9, 9, 9)), "image/png")])
    new_key = (await fresh_user(app, user["id"]))["avatar_key"]
    assert new_key != old_key
    assert not app.images.path(old_key, "l").exists() and not app.images.path(old_key, "t").exists()
    assert app.images.path(new_key, "l").exists() and app.images.path(new_key, "t").exists()
    assert set(media_files(app)) - files_before == {app.images.path(new_key, "l"), app.images.path(new_key, "t")}


@pytest.mark.gen_test
@pytest.mark.parametrize("filename,data,message", [
    ("fake.jpg", b"<html>not a picture</html>", "JPEG"),
    ("empty.png", b"", "请选择"),
])
async def test_invalid_avatar_is_refused_and_nothing_stored(user_client, app, filename, data, message):
    client, user = user_client
    await client.post("/profile/avatar", files=[("avatar", "a.png", png_bytes(), "image/png")])
    before_key, before_files = (await fresh_user(app, user["id"]))["avatar_key"], media_files(app)
    response = await client.post("/profile/avatar", files=[("avatar", filename, data, "image/jpeg")])
    assert response.code == 400
    assert message in field_errors(text(response)).get("avatar", "")
    assert (await fresh_user(app, user["id"]))["avatar_key"] == before_key
    assert media_files(app) == before_files


@pytest.mark.gen_test
async def test_avatar_without_file(user_client):
    client, _ = user_client
    response = await client.post("/profile/avatar", {})
    assert response.code == 400 and "请选择" in field_errors(text(response))["avatar"]


# -- password ------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_password_change_revokes_other_sessions(app, client, new_client, login):
    user = await make_user(app)
    current = await login(client, user)
    phone = new_client()
    other = await login(phone, user)
    tablet = await app.sessions.create(user["id"], ip="10.0.0.2")
    old_cookie = client.cookies[SESSION_COOKIE]

    response = await client.post("/profile/password", {"old_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                       "new_password2": NEW_PASSWORD})
    assert response.code == 302 and response.headers["Location"] == "/profile"
    # This browser goes on with a brand-new token ...
    assert client.cookies[SESSION_COOKIE] != old_cookie
    sessions = await app.sessions.list_for_user(user["id"])
    assert len(sessions) == 1
    assert sessions[0].token not in (current.token, other.token, tablet.token)
    assert (await client.get("/profile")).code == 200
    # ... and every other session is gone.
    for token in (current.token, other.token, tablet.token):
        assert await app.redis.get(f"session:{token}") is None
    assert (await phone.get("/profile")).code == 302
    # The new password works, the old one does not.
    row = await fresh_user(app, user["id"])
    assert row["password_hash"] != user["password_hash"] and row["password_hash"].startswith(f"$2b${app.config.bcrypt_rounds:02d}$")
    browser = new_client()
    assert (await browser.post("/login", {"mobile": user["mobile"], "password": PASSWORD})).code == 400
    assert (await browser.post("/login", {"mobile": user["mobile"], "password": NEW_PASSWORD})).code == 302


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("form,field,message", [
    ({"old_password": "Wrong#pass999", "new_password": NEW_PASSWORD}, "old_password", "不正确"),
    ({"old_password": "", "new_password": NEW_PASSWORD}, "old_password", "请输入当前密码"),
    ({"old_password": PASSWORD, "new_password": "short1!"}, "new_password", "8–64"),
    ({"old_password": PASSWORD, "new_password": "abcdefghijk"}, "new_password", "一类字符"),
    ({"old_password": PASSWORD, "new_password": "Password123"}, "new_password", "太常见"),
    ({"old_password": PASSWORD, "new_password": PASSWORD}, "new_password", "相同"),
    ({"old_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password2": "Other#pass123"},
     "new_password2", "不一致"),
])
async def test_password_rules(user_client, app, form, field, message):
    client, user = user_client
    other = await app.sessions.create(user["id"])
    response = await client.post("/profile/password", form)
    assert response.code == 400
    assert message in field_errors(text(response)).get(field, ""), text(response)[:3000]
    assert (await fresh_user(app, user["id"]))["password_hash"] == user["password_hash"]
    assert await app.redis.get(f"session:{other.token}") is not None


# -- real-name verification ----------------------------------------------------

async def verified_as(app, user_id: int) -> tuple[str, str] | None:
    """(real name, ID card in clear) as stored, read the way the site reads it; None when unverified."""
    found = await profile_model.verification(app.db, user_id, app.cipher)
    return (found.real_name, found.id_card) if found else None


@pytest.mark.gen_test
async def test_verify_real_name_then_immutable(app, client, login):
    user = await make_user(app, verified=False)
    await login(client, user)
    form_page = await client.get("/profile/auth")
    assert form_page.code == 200 and 'id="auth-form"' in text(form_page)
    response = await client.post("/profile/auth", {"real_name": " 张三 ", "id_card": "11010519491231002x"})
    assert response.code == 302 and response.headers["Location"] == "/profile/auth"
    assert await verified_as(app, user["id"]) == ("张三", "11010519491231002X")
    page = text(await client.get("/profile/auth"))
    assert "110***********002X" in page and "11010519491231002X" not in page
    assert 'id="auth-form"' not in page and "不能修改" in page
    assert "110***********002X" not in text(await client.get("/profile"))  # only where it is needed
    # Once verified, it cannot be changed.
    again = await client.post("/profile/auth", {"real_name": "李四", "id_card": "510107198511150075"})
    assert again.code == 409 and "不能修改" in text(again)
    assert await verified_as(app, user["id"]) == ("张三", "11010519491231002X")


@pytest.mark.gen_test
async def test_verification_race_writes_once(app, new_client, login):
    user = await make_user(app, verified=False)
    first, second = new_client(), new_client()
    await login(first, user)
    await login(second, user)
    await first.xsrf_token()
    await second.xsrf_token()
    responses = await asyncio.gather(
        first.post("/profile/auth", {"real_name": "张三", "id_card": VALID_ID_CARD}),
        second.post("/profile/auth", {"real_name": "李四", "id_card": "510107198511150075"}))
    assert sorted(r.code for r in responses) == [302, 409]
    assert await verified_as(app, user["id"]) in {("张三", VALID_ID_CARD), ("李四", "510107198511150075")}


@pytest.mark.gen_test
@pytest.mark.parametrize("real_name,id_card,field,message", [
    ("张三", "110105194912310021", "id_card", "校验位"),
    ("张三", "110105194902300023", "id_card", "出生日期"),
    ("张三", "11010519491231002", "id_card", "18 位"),
    ("张三", "11010519491231002X1", "id_card", "18 位"),
    ("张三", "", "id_card", "请输入身份证号"),
    ("张", VALID_ID_CARD, "real_name", "姓名"),
    ("张三<b>", VALID_ID_CARD, "real_name", "只能包含"),
])
async def test_verification_rules(app, client, login, real_name, id_card, field, message):
    user = await make_user(app, verified=False)
    await login(client, user)
    response = await client.post("/profile/auth", {"real_name": real_name, "id_card": id_card})
    assert response.code == 400
    assert message in field_errors(text(response)).get(field, "")
    row = await fresh_user(app, user["id"])
    assert row["real_name"] is None and row["id_card"] is None


@pytest.mark.gen_test
async def test_minority_name_with_middle_dot(app, client, login):
    user = await make_user(app, verified=False)
    await login(client, user)
    response = await client.post("/profile/auth", {"real_name": "阿卜杜勒·艾山", "id_card": VALID_ID_CARD})
    assert response.code == 302
    assert (await fresh_user(app, user["id"]))["real_name"] == "阿卜杜勒·艾山"


# -- publishing needs verification ---------------------------------------------

@pytest.mark.gen_test
async def test_unverified_user_cannot_publish(app, client, login):
    user = await make_user(app, verified=False)
    await login(client, user)
    form = await client.get("/houses/new")
    assert form.code == 200 and "实名认证" in text(form) and 'href="/profile/auth"' in text(form)
    response = await client.post("/houses/new", house_form())
    assert response.code == 403 and "实名认证" in text(response)
    assert await app.db.scalar("SELECT COUNT(*) FROM houses") == 0
    # After verifying, the same form goes through.
    assert (await client.post("/profile/auth", {"real_name": "张三", "id_card": VALID_ID_CARD})).code == 302
    assert "publish-blocker" not in text(await client.get("/houses/new"))
    published = await client.post("/houses/new", house_form())
    assert published.code == 302
    assert await app.db.scalar("SELECT COUNT(*) FROM houses WHERE owner_id = %s", user["id"]) == 1


# -- sessions ------------------------------------------------------------------

@pytest.mark.gen_test
async def test_sessions_page_lists_sessions_without_tokens(app, client, login):
    user = await make_user(app)
    current = await login(client, user)
    ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Safari/604.1"
    phone = await app.sessions.create(user["id"], ip="192.168.1.20", user_agent=ua)
    someone_else = await app.sessions.create((await make_user(app))["id"], ip="10.9.9.9")
    page = await client.get("/profile/sessions")
    body = text(page)
    assert page.code == 200
    assert body.count('class="session-row"') == 2
    assert f'data-session-id="{session_id(phone.token)}"' in body
    assert "Safari · iPhone" in body and "192.168.1.20" in body and "局域网" in body
    assert "当前设备" in body and "本机" in body
    assert "10.9.9.9" not in body
    for token in (current.token, phone.token, someone_else.token):
        assert token not in body and token[:12] not in body


@pytest.mark.gen_test
async def test_log_out_other_sessions(app, client, new_client, login):
    user = await make_user(app)
    current = await login(client, user)
    others = [await app.sessions.create(user["id"], ip=f"10.0.0.{i}") for i in range(3)]
    stranger = await app.sessions.create((await make_user(app))["id"])
    response = await client.post("/profile/sessions", {"revoke": "others"})
    assert response.code == 302 and response.headers["Location"] == "/profile/sessions"
    assert [s.token for s in await app.sessions.list_for_user(user["id"])] == [current.token]
    for session in others:
        assert await app.redis.get(f"session:{session.token}") is None
    assert await app.redis.get(f"session:{stranger.token}") is not None
    page = await client.get("/profile/sessions")
    assert page.code == 200 and "已退出其他 3 个登录" in text(page)


@pytest.mark.gen_test
async def test_log_out_one_session(app, client, login):
    user = await make_user(app)
    current = await login(client, user)
    keep = await app.sessions.create(user["id"], ip="10.0.0.1")
    drop = await app.sessions.create(user["id"], ip="10.0.0.2")
    response = await client.post("/profile/sessions", {"revoke": session_id(drop.token)})
    assert response.code == 302
    tokens = {s.token for s in await app.sessions.list_for_user(user["id"])}
    assert tokens == {current.token, keep.token}
    assert (await client.post("/profile/sessions", {"revoke": session_id(drop.token)})).code == 404
    assert (await client.post("/profile/sessions", {"revoke": session_id(current.token)})).code == 400
    assert len(await app.sessions.list_for_user(user["id"])) == 2


@pytest.mark.gen_test(timeout=30)
async def test_sessions_page_shows_recent_logins(app, client):
    user = await make_user(app)
    assert (await client.post("/login", {"mobile": user["mobile"], "password": "Wrong#pass999"})).code == 400
    assert (await client.post("/login", {"mobile": user["mobile"], "password": PASSWORD})).code == 302
    body = text(await client.get("/profile/sessions"))
    assert body.count('class="login-event"') == 2 and "成功" in body and "失败" in body


def test_describe_user_agent():
    chrome = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0 Safari/537.36")
    edge = chrome + " Edg/124.0"
    wechat = ("Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/110.0 Mobile Safari/537.36 "
              "MicroMessenger/8.0")
    assert describe_user_agent(chrome) == "Chrome · Windows"
    assert describe_user_agent(edge) == "Edge · Windows"
    assert describe_user_agent(wechat) == "微信 · Android"
    assert describe_user_agent("") == "未知设备"
    assert describe_user_agent("ihome-tests") == "ihome-tests"
