"""Sign-up asks for the display name (the profile name's rules), so reviews and listings show it."""

from __future__ import annotations

import pytest

from tests.utils.captcha import captcha_for
from tests.utils.client import text
from tests.utils.factories import make_house, make_user, next_mobile
from tests.utils.pages import field_error


async def sign_up(client, app, **overrides):
    captcha_id, answer = await captcha_for(client, app)
    mobile = next_mobile()
    form = dict(mobile=mobile, name="小林的家", password="Good#pass123", password2="Good#pass123",
                captcha_id=captcha_id, captcha=answer)
    form.update(overrides)
    return await client.post("/register", form), form


@pytest.mark.gen_test
async def test_the_chosen_name_is_shown_on_the_host_s_listing(client, app):
    response, form = await sign_up(client, app, name="  林  小 姐 ")
    assert response.code == 302
    user = await app.db.queryone("SELECT id, name FROM users WHERE mobile = %s", form["mobile"])
    assert user["name"] == "林 小 姐"  # cleaned as the profile page cleans it
    house = await make_house(app, user)
    page = text(await client.get(f"/houses/{house['id']}"))
    assert "林 小 姐" in page and "用户" not in page.split('class="host-name">', 1)[1][:40]


@pytest.mark.gen_test
@pytest.mark.parametrize("name,message", [
    ("", "2–32"),
    ("林", "2–32"),
    ("名" * 33, "2–32"),
    ("13800138000", "全是数字"),
    ("林\u200b小姐", "不可见"),
])
async def test_a_bad_name_is_refused_next_to_the_field(client, app, name, message):
    response, form = await sign_up(client, app, name=name)
    assert response.code == 400
    assert message in (field_error(text(response), "name") or "")
    assert await app.db.scalar("SELECT COUNT(*) FROM users WHERE mobile = %s", form["mobile"]) == 0


@pytest.mark.gen_test
async def test_a_taken_name_is_refused_case_insensitively(client, app):
    await make_user(app, name="Lin Home")
    response, form = await sign_up(client, app, name="lin home")
    assert response.code == 400
    assert "已被其他用户使用" in (field_error(text(response), "name") or "")
    assert 'value="lin home"' in text(response)  # the form keeps what was typed
    assert await app.db.scalar("SELECT COUNT(*) FROM users WHERE mobile = %s", form["mobile"]) == 0


@pytest.mark.gen_test
async def test_a_name_taken_between_the_check_and_the_insert_is_a_400(client, app, monkeypatch):
    from models import users
    real_taken = users.name_taken

    async def not_yet(db, name):  # the check passes, then a twin sign-up takes the name
        assert not await real_taken(db, name)
        await make_user(app, name=name)
        return False
    monkeypatch.setattr(users, "name_taken", not_yet)
    response, form = await sign_up(client, app, name="抢名字")
    assert response.code == 400
    assert "已被其他用户使用" in (field_error(text(response), "name") or "")
    assert await app.db.scalar("SELECT COUNT(*) FROM users WHERE mobile = %s", form["mobile"]) == 0


@pytest.mark.gen_test
async def test_login_and_register_links_keep_next(client):
    target = "/houses/7?sd=2999-01-02&ed=2999-01-05&guests=2"
    escaped = "%2Fhouses%2F7%3Fsd%3D2999-01-02%26ed%3D2999-01-05%26guests%3D2"
    login_page = text(await client.get(f"/login?next={escaped}"))
    assert f'href="/register?next={escaped}"' in login_page
    register_page = text(await client.get(f"/register?next={escaped}"))
    assert f'href="/login?next={escaped}"' in register_page
    assert f'name="next" value="{target.replace("&", "&amp;")}"' in register_page
    # A foreign next is dropped, not carried along.
    assert 'href="/register"' in text(await client.get("/login?next=//evil.example/"))


@pytest.mark.gen_test
async def test_sign_up_returns_to_next_with_its_parameters(client, app):
    target = "/houses/7?sd=2999-01-02&ed=2999-01-05&guests=2"
    response, _ = await sign_up(client, app, next=target)
    assert response.code == 302 and response.headers["Location"] == target
