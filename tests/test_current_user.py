"""The logged-in user as handlers and templates see it: a narrow, typed, frozen record.

No password hash and no ID card number ride along on every request; those are
read only where a password is checked or the verification is shown.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from handlers.base import BaseHandler
from models import users
from tests.utils.client import text
from tests.utils.factories import PASSWORD, make_user


class WhoAmIHandler(BaseHandler):
    """Test-only page: what ``self.current_user`` is on a real request."""

    def get(self) -> None:
        user = self.current_user
        self.finish({"type": type(user).__name__,
                     "fields": dataclasses.asdict(user) if user is not None else None})


@pytest.fixture
def app(app):
    app.add_handlers(r".*", [(r"/_test/whoami", WhoAmIHandler)])
    return app


def test_the_record_has_no_secrets_and_is_frozen():
    names = [f.name for f in dataclasses.fields(users.CurrentUser)]
    assert names == ["id", "name", "mobile", "avatar_key", "is_admin", "is_active", "verified", "locale"]
    user = users.CurrentUser(1, "小明", "13900000001", None, False, True, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.is_admin = True  # type: ignore[misc]
    assert not hasattr(user, "__dict__")  # slots: nothing can be attached to it later
    assert "password_hash" not in users.CURRENT_USER_COLUMNS
    assert "id_card," not in users.CURRENT_USER_COLUMNS and "id_card IS NOT NULL" in users.CURRENT_USER_COLUMNS


@pytest.mark.gen_test
async def test_handlers_get_the_narrow_user(app, client, login):
    user = await make_user(app, admin=True)
    anonymous = json.loads((await client.get("/_test/whoami")).body)
    assert anonymous == {"type": "NoneType", "fields": None}
    await login(client, user)
    seen = json.loads((await client.get("/_test/whoami")).body)
    assert seen == {"type": "CurrentUser", "fields": {
        "id": user["id"], "name": user["name"], "mobile": user["mobile"], "avatar_key": None,
        "is_admin": True, "is_active": True, "verified": True, "locale": None}}


@pytest.mark.gen_test
async def test_verified_follows_the_id_card_column(app, client, login):
    user = await make_user(app, verified=False)
    assert (await users.get_current(app.db, user["id"])).verified is False
    await login(client, user)
    assert "发布房源前需要先完成实名认证" in text(await client.get("/houses/new"))
    await app.db.execute("UPDATE users SET id_card = 'x' WHERE id = %s", user["id"])
    assert (await users.get_current(app.db, user["id"])).verified is True
    assert "发布房源前需要先完成实名认证" not in text(await client.get("/houses/new"))


@pytest.mark.gen_test
async def test_the_hash_is_read_only_for_a_password_check(app):
    user = await make_user(app)
    found, password_hash = await users.get_login(app.db, user["mobile"])
    assert isinstance(found, users.CurrentUser) and found.id == user["id"]
    assert password_hash == user["password_hash"] == await users.password_hash_of(app.db, user["id"])
    assert await users.get_login(app.db, "13000000000") is None
    assert await users.get_current(app.db, 10 ** 12) is None


@pytest.mark.gen_test
async def test_pages_render_from_the_narrow_user(app, client):
    user = await make_user(app, name="页面用户")
    response = await client.post("/login", {"mobile": user["mobile"], "password": PASSWORD})
    assert response.code == 302
    for path in ("/", "/profile", "/profile/auth", "/my/houses", "/my/orders?role=guest", "/houses/new"):
        page = await client.get(path)
        assert page.code == 200, path
        assert "页面用户" in text(page), path
