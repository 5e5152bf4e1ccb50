"""Regression tests for defects found in code review: inputs that used to give a 500
or stall the event loop, a revoked session written back, and a moderation race."""

from __future__ import annotations

import asyncio
import time

import pytest

from handlers.auth import BAD_CREDENTIALS
from handlers.base import page_number, small_int
from services.house_form import parse_yuan
from services.passwords import check_password, password_problem
from tests.test_auth import captcha_for
from tests.utils.client import json_body, text
from tests.utils.factories import PASSWORD, house_form, make_house, make_user, next_mobile

HUGE_ID = "999999999999999999"  # 18 digits: the most the routes accept
# 31 characters (within 8–64) but 91 bytes: past bcrypt's 72.
LONG_PASSWORD = "密" * 30 + "1"


# -- digit-like characters and long digit strings --------------------------------

def test_small_int_and_page_number_refuse_what_int_would_refuse():
    assert small_int("42") == 42
    for raw in ("²", "１２", "٣", "", None, "-1", "1.5", "9" * 19, "9" * 5000):
        assert small_int(raw) is None, raw
    assert page_number("3", 500) == 3
    assert page_number("9999", 500) == 500
    for raw in ("²", "0", "", "x", "9" * 5000):
        assert page_number(raw, 500) == 1, raw


@pytest.mark.gen_test
async def test_unicode_digits_in_query_values_are_not_a_500(client, app, login):
    user = await make_user(app)
    admin = await make_user(app, admin=True)
    await make_house(app, user)
    assert (await client.get("/houses?page=%C2%B2&facility=%C2%B2")).code == 200
    assert (await client.get("/houses?facility=" + "9" * 5000)).code == 200
    api = await client.get("/api/v1/houses?page=%C2%B2")
    assert api.code == 200 and json_body(api)["page"] == 1
    await login(client, user)
    assert (await client.get("/my/orders?page=%C2%B2")).code == 200
    refused = await client.post("/houses/new", [*house_form().items(), ("facility", "²")])
    assert refused.code == 400 and "设施选项无效" in text(refused)
    assert await app.db.scalar("SELECT COUNT(*) FROM houses WHERE owner_id = %s", user["id"]) == 1
    admin_client = client.__class__(client.http_client, client.base_url)
    await login(admin_client, admin, is_admin=True)
    for path in ("/admin/users?page=%C2%B2", "/admin/houses?page=%C2%B2", "/admin/logins?page=%C2%B2"):
        assert (await admin_client.get(path)).code == 200, path


# -- money with huge exponents ---------------------------------------------------

def test_parse_yuan_refuses_huge_exponents_at_once():
    started = time.perf_counter()
    for raw in ("1E+999990", "1E+100000000", "1000000000000.01"):
        with pytest.raises(ValueError):
            parse_yuan(raw)
    assert time.perf_counter() - started < 0.5
    assert parse_yuan("1e2") == 10000 and parse_yuan("188.5") == 18850


@pytest.mark.gen_test
@pytest.mark.parametrize("query", ["price_min=1E%2B999990", "price_max=1E%2B100000000"])
async def test_search_with_a_huge_price_is_a_quick_400(client, query):
    started = time.perf_counter()
    response = await client.get(f"/houses?{query}")
    assert response.code == 400 and "价格须为" in text(response)
    assert time.perf_counter() - started < 2
    assert (await client.get(f"/api/v1/houses?{query}")).code == 400


# -- captcha and password inputs that crashed the checks --------------------------

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
    assert await check_password(LONG_PASSWORD, user["password_hash"]) is False
    assert await check_password(LONG_PASSWORD, None) is False
    assert await check_password(PASSWORD, user["password_hash"]) is True


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


# -- a revoked session stays revoked -----------------------------------------------

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


# -- moderation: an edit racing an approval -----------------------------------------

@pytest.mark.gen_test(timeout=20)
async def test_an_edit_racing_an_approval_goes_back_to_review(client, app, login):
    owner = await make_user(app)
    house = await make_house(app, owner, status="pending", title="原来的标题")
    await login(client, owner)
    # An admin's approval holds the row lock while the owner's edit arrives.
    async with app.db.transaction() as admin_tx:
        await admin_tx.queryone("SELECT id FROM houses WHERE id = %s FOR UPDATE", house["id"])
        await admin_tx.execute("UPDATE houses SET status = 'online' WHERE id = %s", house["id"])
        edit = asyncio.ensure_future(client.post(f"/houses/{house['id']}/edit",
                                                 house_form(title="未经审核的新标题")))
        await asyncio.sleep(0.5)  # the edit has read the row (still pending) and waits for the lock
        assert not edit.done()
    response = await edit
    assert response.code == 302
    row = await app.db.queryone("SELECT title, status FROM houses WHERE id = %s", house["id"])
    assert row["title"] == "未经审核的新标题" and row["status"] == "pending"


# -- the largest ids the routes accept are 404s, not 500s -----------------------------

@pytest.mark.gen_test
async def test_huge_ids_are_404(client, app, login):
    owner = await make_user(app)
    admin = await make_user(app, admin=True)
    house = await make_house(app, owner)
    for path in (f"/houses/{HUGE_ID}", f"/api/v1/houses/{HUGE_ID}/availability"):
        assert (await client.get(path)).code == 404, path
    await login(client, owner)
    assert (await client.get(f"/orders/{HUGE_ID}")).code == 404
    assert (await client.get(f"/houses/{HUGE_ID}/edit")).code == 404
    for path in (f"/houses/{HUGE_ID}/book", f"/orders/{HUGE_ID}/cancel",
                 f"/houses/{house['id']}/images/{HUGE_ID}/delete", f"/houses/{house['id']}/images/{HUGE_ID}/cover"):
        response = await client.post(path, dict(sd="2030-01-01", ed="2030-01-02"))
        assert response.code == 404, path
    admin_client = client.__class__(client.http_client, client.base_url)
    await login(admin_client, admin, is_admin=True)
    for path in (f"/admin/houses/{HUGE_ID}", f"/admin/users/{HUGE_ID}"):
        assert (await admin_client.get(path)).code == 404, path
    for path in (f"/admin/houses/{HUGE_ID}/approve", f"/admin/users/{HUGE_ID}/disable"):
        assert (await admin_client.post(path, {})).code == 404, path
