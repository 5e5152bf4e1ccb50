"""Sign-up with captcha, login, logout, sessions and XSRF."""

from __future__ import annotations

import re

import pytest

from handlers.auth import BAD_CREDENTIALS
from handlers.base import SESSION_COOKIE, safe_next
from services.passwords import check_password, password_problem
from tests.utils.captcha import captcha_for
from tests.utils.client import text
from tests.utils.factories import PASSWORD, make_user, next_mobile

async def register(client, app, **overrides):
    captcha_id, answer = await captcha_for(client, app)
    mobile = next_mobile()
    form = dict(mobile=mobile, name=f"新住客{mobile[-5:]}", password="Good#pass123", password2="Good#pass123",
                captcha_id=captcha_id, captcha=answer.lower())
    form.update(overrides)
    return await client.post("/register", form), form


@pytest.mark.gen_test
async def test_register_logs_in_and_redirects(client, app):
    response, form = await register(client, app)
    assert response.code == 302 and response.headers["Location"] == "/"
    user = await app.db.queryone("SELECT * FROM users WHERE mobile = %s", form["mobile"])
    assert user is not None and user["password_hash"].startswith(f"$2b${app.config.bcrypt_rounds:02d}$")
    home = text(await client.get("/"))
    assert "注册成功" in home
    # The name chosen at sign-up is the account's display name (never the mobile: pages show names).
    assert user["name"] == form["name"] and form["name"] in home and form["mobile"] not in home


@pytest.mark.gen_test
@pytest.mark.parametrize("field,value,message", [
    ("mobile", "12345", "11 位"),
    ("mobile", "23800000000", "11 位"),
    ("password", "short1!", "8–64"),
    ("password", "abcdefghijk", "一类字符"),
    ("password", "12345678901", "一类字符"),
    ("password", "Password123", "太常见"),
    ("password2", "Other#pass123", "不一致"),
    ("captcha", "WRONG", "验证码"),
])
async def test_register_validation(client, app, field, value, message):
    overrides = {field: value}
    if field == "password":
        overrides["password2"] = value
    response, form = await register(client, app, **overrides)
    assert response.code == 400
    body = text(response)
    assert re.search(rf'data-field="{field}">[^<]*{message}', body), body[:2000]
    assert await app.db.scalar("SELECT COUNT(*) FROM users") == 0


@pytest.mark.gen_test
async def test_register_duplicate_mobile(client, app):
    user = await make_user(app)
    response, _ = await register(client, app, mobile=user["mobile"])
    assert response.code == 400 and "已注册" in text(response)


@pytest.mark.gen_test
async def test_captcha_is_single_use_and_expires(client, app):
    captcha_id, answer = await captcha_for(client, app)
    assert 0 < await app.redis.ttl(f"captcha:{captcha_id}") <= 300
    first, _ = await register(client, app, captcha_id=captcha_id, captcha=answer, mobile="12")
    assert first.code == 400  # bad mobile, and the answer is now used up
    assert await app.redis.get(f"captcha:{captcha_id}") is None
    second, _ = await register(client, app, captcha_id=captcha_id, captcha=answer)
    assert second.code == 400 and 'data-field="captcha"' in text(second)


@pytest.mark.gen_test
async def test_captcha_bad_id_404(client):
    response = await client.get("/captcha/bad.png")
    assert response.code == 404


@pytest.mark.gen_test
async def test_login_success_rotates_session(client, app):
    user = await make_user(app)
    await client.get("/login")
    response = await client.post("/login", {"mobile": user["mobile"], "password": PASSWORD})
    assert response.code == 302
    first = client.cookies[SESSION_COOKIE]
    tokens = await app.sessions.list_for_user(user["id"])
    assert len(tokens) == 1 and len(tokens[0].token) >= 43
    again = await client.post("/login", {"mobile": user["mobile"], "password": PASSWORD})
    assert again.code == 302 and client.cookies[SESSION_COOKIE] != first
    sessions = await app.sessions.list_for_user(user["id"])
    assert len(sessions) == 1 and sessions[0].token != tokens[0].token  # the old token is gone
    assert await app.redis.get(f"session:{tokens[0].token}") is None


@pytest.mark.gen_test
async def test_login_cookie_flags(client, app):
    user = await make_user(app)
    response = await client.post("/login", {"mobile": user["mobile"], "password": PASSWORD})
    cookie = [c for c in response.headers.get_list("Set-Cookie") if c.startswith(SESSION_COOKIE)][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # The cookie value is signed: the raw token alone is not accepted.
    session = (await app.sessions.list_for_user(user["id"]))[0]
    client.cookies[SESSION_COOKIE] = session.token
    page = await client.get("/my/houses")
    assert page.code == 302 and page.headers["Location"].startswith("/login")


@pytest.mark.gen_test
async def test_login_same_message_for_unknown_mobile_and_wrong_password(client, app):
    user = await make_user(app)
    wrong = await client.post("/login", {"mobile": user["mobile"], "password": "Wrong#pass999"})
    unknown = await client.post("/login", {"mobile": next_mobile(), "password": PASSWORD})
    assert wrong.code == unknown.code == 400
    assert "手机号或密码错误" in text(wrong) and "手机号或密码错误" in text(unknown)
    assert SESSION_COOKIE not in client.cookies


@pytest.mark.gen_test
async def test_login_next_only_local(client, app):
    user = await make_user(app)
    ok = await client.post("/login", {"mobile": user["mobile"], "password": PASSWORD, "next": "/my/houses"})
    assert ok.headers["Location"] == "/my/houses"
    evil = await client.post("/login", {"mobile": user["mobile"], "password": PASSWORD,
                                        "next": "//evil.example/x"})
    assert evil.headers["Location"] == "/"


def test_safe_next():
    assert safe_next("/houses?x=1") == "/houses?x=1"
    for bad in ("http://evil", "//evil", "/\\evil", "evil", "", None, "/ok\r\nSet-Cookie: x"):
        assert safe_next(bad) == "/"


@pytest.mark.gen_test
async def test_disabled_account_cannot_log_in(client, app):
    user = await make_user(app, active=False)
    response = await client.post("/login", {"mobile": user["mobile"], "password": PASSWORD})
    assert response.code == 403 and "停用" in text(response)


@pytest.mark.gen_test
async def test_logout_deletes_session(client, app, login):
    user = await make_user(app)
    session = await login(client, user)
    assert (await client.get("/my/houses")).code == 200
    response = await client.post("/logout")
    assert response.code == 302
    assert await app.redis.get(f"session:{session.token}") is None
    assert (await client.get("/my/houses")).code == 302


@pytest.mark.gen_test
async def test_authenticated_page_redirects_to_login(client):
    response = await client.get("/houses/new")
    assert response.code == 302
    assert response.headers["Location"] == "/login?next=%2Fhouses%2Fnew"


@pytest.mark.gen_test
@pytest.mark.parametrize("xsrf", [False, "wrong-token-value"])
async def test_post_without_valid_xsrf_is_403(client, app, xsrf):
    user = await make_user(app)
    await client.get("/login")
    response = await client.post("/login", {"mobile": user["mobile"], "password": PASSWORD}, xsrf=xsrf)
    assert response.code == 403
    assert SESSION_COOKIE not in client.cookies


@pytest.mark.gen_test
async def test_xsrf_header_accepted(client, app, login):
    user = await make_user(app)
    await login(client, user)
    token = await client.xsrf_token()
    response = await client.post("/logout", {}, xsrf=False, headers={"X-XSRFToken": token})
    assert response.code == 302


@pytest.mark.gen_test
async def test_session_idle_ttl_and_absolute_lifetime(client, app, login):
    user = await make_user(app)
    session = await login(client, user)
    ttl = await app.redis.ttl(f"session:{session.token}")
    assert 0 < ttl <= app.config.session_idle_ttl
    # Pretend the session was created longer ago than the absolute lifetime.
    import json
    raw = json.loads(await app.redis.get(f"session:{session.token}"))
    raw["created_at"] -= app.config.session_absolute_ttl + 1
    await app.redis.set(f"session:{session.token}", json.dumps(raw), ex=100)
    assert (await client.get("/my/houses")).code == 302
    assert await app.redis.get(f"session:{session.token}") is None


@pytest.mark.gen_test
async def test_unknown_page_is_styled_404(client):
    response = await client.get("/no/such/page")
    assert response.code == 404 and "页面不存在" in text(response) and "爱家" in text(response)


@pytest.mark.gen_test
async def test_corrupt_session_entry_is_ignored(client, app, login):
    user = await make_user(app)
    session = await login(client, user)
    other = await app.sessions.create(user["id"])
    await app.redis.set(f"session:{other.token}", "{not json", ex=100)
    listed = await app.sessions.list_for_user(user["id"])
    assert [s.token for s in listed] == [session.token]
    assert (await client.get("/profile/sessions")).code == 200


# -- inputs that used to crash the checks ---------------------------------------

# 31 characters (within 8–64) but 91 bytes: past bcrypt's 72.
LONG_PASSWORD = "密" * 30 + "1"


@pytest.mark.gen_test
async def test_non_ascii_captcha_answer_is_a_wrong_answer(client, app):
    captcha_id, _ = await captcha_for(client, app)
    mobile = next_mobile()
    response = await client.post("/register", dict(mobile=mobile, password="Good#pass123",
                                                   password2="Good#pass123", captcha_id=captcha_id,
                                                   captcha="中文"))
    assert response.code == 400 and "图片验证码错误" in text(response)
    assert await app.db.scalar("SELECT COUNT(*) FROM users WHERE mobile = %s", mobile) == 0


def test_password_over_72_bytes_is_refused_by_the_rules():
    assert "72" in password_problem(LONG_PASSWORD)
    assert "72" in password_problem("密码" * 12 + "1")  # 73 bytes
    assert password_problem("密码" * 11 + "1a") is None  # 68 bytes


@pytest.mark.gen_test
async def test_check_password_with_an_over_long_password_is_false_not_an_error(app):
    user = await make_user(app)
    rounds = app.config.bcrypt_rounds  # the dummy hash's cost, as the login handler passes it
    assert await check_password(LONG_PASSWORD, user["password_hash"], rounds=rounds) is False
    assert await check_password(LONG_PASSWORD, None, rounds=rounds) is False
    assert await check_password(PASSWORD, user["password_hash"], rounds=rounds) is True


@pytest.mark.gen_test
async def test_register_login_and_password_change_with_an_over_long_password(client, app, login):
    captcha_id, answer = await captcha_for(client, app)
    mobile = next_mobile()
    response = await client.post("/register", dict(mobile=mobile, password=LONG_PASSWORD,
                                                   password2=LONG_PASSWORD, captcha_id=captcha_id,
                                                   captcha=answer))
    assert response.code == 400 and "72 个字节" in text(response)
    assert await app.db.scalar("SELECT COUNT(*) FROM users WHERE mobile = %s", mobile) == 0

    user = await make_user(app)
    response = await client.post("/login", dict(mobile=user["mobile"], password=LONG_PASSWORD))
    assert response.code == 400 and BAD_CREDENTIALS in text(response)

    await login(client, user)
    response = await client.post("/profile/password", dict(old_password=LONG_PASSWORD,
                                                          new_password="Other#pass2025"))
    assert response.code == 400 and "当前密码不正确" in text(response)
    response = await client.post("/profile/password", dict(old_password=PASSWORD, new_password=LONG_PASSWORD))
    assert response.code == 400 and "72 个字节" in text(response)
    unchanged = await app.db.scalar("SELECT password_hash FROM users WHERE id = %s", user["id"])
    assert unchanged == user["password_hash"]


# -- a revoked session stays revoked ----------------------------------------------

@pytest.mark.gen_test
async def test_a_session_revoked_while_in_use_is_not_written_back(app):
    user = await make_user(app)
    session = await app.sessions.create(user["id"], ip="127.0.0.1", user_agent="t")
    # A request has read the session (prepare) when the password change revokes it...
    loaded = await app.sessions.get(session.token, touch=False)
    assert loaded is not None
    assert await app.sessions.revoke_user(user["id"]) == 1
    # ...and its sliding-TTL write must not bring it back.
    assert await app.sessions.touch(loaded, ip="127.0.0.2") is False
    assert await app.redis.exists(f"session:{session.token}") == 0
    assert await app.sessions.get(session.token) is None
    # A live session is still touched.
    live = await app.sessions.create(user["id"])
    assert await app.sessions.touch(live, ip="10.0.0.9") is True
    assert (await app.sessions.get(live.token, touch=False)).ip == "10.0.0.9"
