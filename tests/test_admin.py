"""Admin area access: its login page, admin sessions, the route table check, createadmin."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import bcrypt
import pytest

import server
from handlers.base import SESSION_COOKIE
from tests.utils.client import admin_client, text
from tests.utils.factories import PASSWORD, make_house, make_user, next_mobile

ROOT = Path(__file__).resolve().parent.parent
ID_GROUP = re.compile(r"\(\[0-9\]\{1,18\}\)")


def admin_routes() -> list[str]:
    """Every pattern of the route table under /admin except the login page."""
    patterns = [route[0] for route in server.routes()]
    return [p for p in patterns if (p == "/admin" or p.startswith("/admin/")) and p != "/admin/login"]


# -- the login page ------------------------------------------------------------

@pytest.mark.gen_test
async def test_admin_login_page(client, app):
    page = await client.get("/admin/login")
    body = text(page)
    assert page.code == 200
    assert "管理后台登录" in body and 'action="/admin/login"' in body and 'name="_xsrf"' in body


@pytest.mark.gen_test
async def test_admin_login_starts_short_admin_session(client, app):
    admin = await make_user(app, admin=True)
    response = await client.post("/admin/login", {"mobile": admin["mobile"], "password": PASSWORD})
    assert response.code == 302 and response.headers["Location"] == "/admin"
    sessions = await app.sessions.list_for_user(admin["id"])
    assert len(sessions) == 1 and sessions[0].is_admin
    ttl = await app.redis.ttl(f"session:{sessions[0].token}")
    assert 0 < ttl <= app.config.admin_session_idle_ttl == 30 * 60
    cookie = [c for c in response.headers.get_list("Set-Cookie") if c.startswith(SESSION_COOKIE)][0]
    assert "HttpOnly" in cookie and "expires" not in cookie.lower()  # a browser-session cookie
    dashboard = await client.get("/admin")
    assert dashboard.code == 200 and "概览" in text(dashboard)
    # The idle TTL is refreshed to the admin value on use, not the week of a normal session.
    assert 0 < await app.redis.ttl(f"session:{sessions[0].token}") <= 30 * 60
    event = await app.db.queryone("SELECT success, is_admin_login FROM login_events WHERE user_id = %s",
                                  admin["id"])
    assert event == {"success": 1, "is_admin_login": 1}


@pytest.mark.gen_test
async def test_admin_login_refuses_non_admin(client, app):
    user = await make_user(app)
    response = await client.post("/admin/login", {"mobile": user["mobile"], "password": PASSWORD})
    assert response.code == 403 and "没有管理员权限" in text(response)
    assert SESSION_COOKIE not in client.cookies
    assert await app.sessions.list_for_user(user["id"]) == []
    # The audit shows a refused admin login, not a success.
    event = await app.db.queryone("SELECT success, is_admin_login FROM login_events WHERE user_id = %s",
                                  user["id"])
    assert event == {"success": 0, "is_admin_login": 1}


@pytest.mark.gen_test
async def test_admin_login_wrong_password_and_disabled(client, app):
    admin = await make_user(app, admin=True)
    wrong = await client.post("/admin/login", {"mobile": admin["mobile"], "password": "Wrong#pass999"})
    assert wrong.code == 400 and "手机号或密码错误" in text(wrong)
    disabled = await make_user(app, admin=True, active=False)
    refused = await client.post("/admin/login", {"mobile": disabled["mobile"], "password": PASSWORD})
    assert refused.code == 403 and "停用" in text(refused)
    assert SESSION_COOKIE not in client.cookies


@pytest.mark.gen_test
async def test_admin_login_next_stays_in_admin_area(app, new_client):
    admin = await make_user(app, admin=True)
    for next_value, expected in (("/admin/users?q=1", "/admin/users?q=1"), ("/my/houses", "/admin"),
                                 ("//evil.example/admin", "/admin"), ("/administrator", "/admin")):
        client = new_client()
        response = await client.post("/admin/login", {"mobile": admin["mobile"], "password": PASSWORD,
                                                      "next": next_value})
        assert response.headers["Location"] == expected, next_value


@pytest.mark.gen_test
async def test_admin_login_page_redirects_an_admin_session(app, new_client, login):
    client, _ = await admin_client(app, new_client, login)
    response = await client.get("/admin/login?next=/admin/orders")
    assert response.code == 302 and response.headers["Location"] == "/admin/orders"


@pytest.mark.gen_test
async def test_ordinary_login_of_an_admin_is_not_enough(client, app):
    admin = await make_user(app, admin=True)
    response = await client.post("/login", {"mobile": admin["mobile"], "password": PASSWORD})
    assert response.code == 302
    sessions = await app.sessions.list_for_user(admin["id"])
    assert len(sessions) == 1 and not sessions[0].is_admin
    page = await client.get("/admin/users")
    assert page.code == 302 and page.headers["Location"] == "/admin/login?next=%2Fadmin%2Fusers"
    # Logging in again on the admin page replaces the ordinary session with an admin one.
    again = await client.post("/admin/login", {"mobile": admin["mobile"], "password": PASSWORD,
                                               "next": "/admin/users"})
    assert again.headers["Location"] == "/admin/users"
    sessions = await app.sessions.list_for_user(admin["id"])
    assert len(sessions) == 1 and sessions[0].is_admin
    assert (await client.get("/admin/users")).code == 200


@pytest.mark.gen_test
async def test_admin_pages_are_not_cached_by_browsers(app, new_client, login):
    client, _ = await admin_client(app, new_client, login)
    response = await client.get("/admin/users")
    assert response.code == 200 and response.headers["Cache-Control"] == "no-store"


# -- every admin route refuses everyone but an admin session -------------------

def test_route_table_has_the_admin_routes():
    routes = admin_routes()
    for expected in ("/admin", "/admin/houses", "/admin/users", "/admin/orders", "/admin/logins",
                     r"/admin/houses/([0-9]{1,18})/approve", r"/admin/houses/([0-9]{1,18})/reject",
                     r"/admin/houses/([0-9]{1,18})/offline", r"/admin/users/([0-9]{1,18})/disable",
                     r"/admin/users/([0-9]{1,18})/enable"):
        assert expected in routes


@pytest.mark.gen_test(timeout=60)
async def test_every_admin_route_refuses_everyone_but_an_admin_session(app, new_client, login):
    owner = await make_user(app)
    house = await make_house(app, owner, status="pending")
    bystander = await make_user(app)

    def fill(pattern: str) -> str:
        target = house["id"] if pattern.startswith("/admin/houses") else bystander["id"]
        return ID_GROUP.sub(str(target), pattern)

    routes = admin_routes()
    assert len(routes) >= 12
    logged_out = new_client()
    normal = new_client()
    await login(normal, await make_user(app))
    admin_normal_session = new_client()
    admin = await make_user(app, admin=True)
    await login(admin_normal_session, admin)  # an admin account, but not logged in on /admin/login
    form = {"reason": "路由检查"}

    for pattern in routes:
        path = fill(pattern)
        # Logged out: pages redirect to the admin login page, actions are refused.
        page = await logged_out.get(path)
        assert page.code == 302, path
        assert page.headers["Location"].startswith("/admin/login?next=%2Fadmin"), path
        assert (await logged_out.post(path, form)).code == 403, path
        # A logged-in non-admin: 403 either way.
        assert (await normal.get(path)).code == 403, path
        assert (await normal.post(path, form)).code == 403, path
        # An admin with an ordinary session: sent to the admin login page, actions refused.
        page = await admin_normal_session.get(path)
        assert page.code == 302 and page.headers["Location"].startswith("/admin/login?next="), path
        assert (await admin_normal_session.post(path, form)).code == 403, path

    # Nothing above changed anything.
    assert await app.db.scalar("SELECT COUNT(*) FROM admin_actions") == 0
    assert await app.db.scalar("SELECT status FROM houses WHERE id = %s", house["id"]) == "pending"
    assert await app.db.scalar("SELECT is_active FROM users WHERE id = %s", bystander["id"]) == 1

    # An admin session gets through on every route: pages answer GET and refuse POST (405);
    # actions answer POST with a redirect and refuse GET (405). Each action starts from a
    # state it is allowed in, so the answer does not depend on the routes' order.
    admin_session = new_client()
    await login(admin_session, admin, is_admin=True)
    ready = {"approve": ("houses", "status = 'pending'"), "reject": ("houses", "status = 'pending'"),
             "offline": ("houses", "status = 'pending'"), "disable": ("users", "is_active = 1"),
             "enable": ("users", "is_active = 0")}
    for pattern in routes:
        path = fill(pattern)
        action = pattern.rsplit("/", 1)[1]
        if "/revision/" in pattern:  # deciding a revision needs an online listing with one pending
            await app.db.execute("UPDATE houses SET status = 'online' WHERE id = %s", house["id"])
            await app.db.execute("INSERT INTO house_revisions (house_id, title) VALUES (%s, '新标题') "
                                 "ON DUPLICATE KEY UPDATE status = 'pending'", house["id"])
            assert (await admin_session.get(path)).code == 405, path
            response = await admin_session.post(path, form)
            assert response.code == 302, (path, response.code)
        elif action in ready:
            table, state = ready[action]
            target = house["id"] if table == "houses" else bystander["id"]
            await app.db.execute(f"UPDATE {table} SET {state} WHERE id = %s", target)
            assert (await admin_session.get(path)).code == 405, path
            response = await admin_session.post(path, form)
            assert response.code == 302, (path, response.code)
            assert not response.headers["Location"].startswith("/admin/login"), path
        else:
            assert (await admin_session.get(path)).code == 200, path
            assert (await admin_session.post(path, form)).code == 405, path


# -- manage.py createadmin -------------------------------------------------------

def run_manage(settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """Run ``manage.py`` for real against the test database and Redis."""
    env = {**os.environ, "IHOME_ENV": "test", "IHOME_MYSQL_URL": settings.mysql_url,
           "IHOME_REDIS_URL": settings.redis_url, "IHOME_BCRYPT_ROUNDS": str(settings.bcrypt_rounds),
           "IHOME_DATA_KEY": settings.data_key}
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=60, cwd=ROOT, start_new_session=True)


def test_createadmin_creates_an_admin(app, io_loop, settings):
    mobile = next_mobile()
    result = run_manage(settings, "createadmin", "--mobile", mobile, "--password", "Admin#pass2024")
    assert result.returncode == 0, result.stderr
    assert "created admin account" in result.stdout
    row = io_loop.run_sync(lambda: app.db.queryone(
        "SELECT is_admin, is_active, password_hash FROM users WHERE mobile = %s", mobile))
    assert row["is_admin"] == 1 and row["is_active"] == 1
    assert bcrypt.checkpw(b"Admin#pass2024", row["password_hash"].encode())


def test_createadmin_reads_the_password_when_not_given(app, io_loop, settings):
    mobile = next_mobile()
    result = run_manage(settings, "createadmin", "--mobile", mobile, stdin="Typed#pass2024\n")
    assert result.returncode == 0, result.stderr
    stored = io_loop.run_sync(lambda: app.db.scalar("SELECT password_hash FROM users WHERE mobile = %s", mobile))
    assert bcrypt.checkpw(b"Typed#pass2024", stored.encode())
    # No password at all for a new account: refused, nothing created.
    other = next_mobile()
    refused = run_manage(settings, "createadmin", "--mobile", other, stdin="")
    assert refused.returncode == 1 and "needs a password" in refused.stderr
    assert io_loop.run_sync(lambda: app.db.scalar("SELECT COUNT(*) FROM users WHERE mobile = %s", other)) == 0


def test_createadmin_refuses_bad_input(app, io_loop, settings):
    mobile = next_mobile()
    weak = run_manage(settings, "createadmin", "--mobile", mobile, "--password", "12345678")
    assert weak.returncode == 1 and "密码" in weak.stderr
    bad_mobile = run_manage(settings, "createadmin", "--mobile", "123", "--password", "Admin#pass2024")
    assert bad_mobile.returncode == 1 and "手机号" in bad_mobile.stderr
    assert io_loop.run_sync(lambda: app.db.scalar("SELECT COUNT(*) FROM users")) == 0


def test_createadmin_promotes_an_existing_account(app, io_loop, settings):
    user = io_loop.run_sync(lambda: make_user(app))
    session = io_loop.run_sync(lambda: app.sessions.create(user["id"]))
    # Without --password: promoted, password and sessions kept, no prompt.
    result = run_manage(settings, "createadmin", "--mobile", user["mobile"])
    assert result.returncode == 0, result.stderr
    assert "granted admin rights" in result.stdout
    row = io_loop.run_sync(lambda: app.db.queryone("SELECT is_admin, password_hash FROM users WHERE id = %s",
                                                   user["id"]))
    assert row == {"is_admin": 1, "password_hash": user["password_hash"]}
    assert io_loop.run_sync(lambda: app.sessions.get(session.token)) is not None
    # With --password: the password changes and the old sessions end.
    result = run_manage(settings, "createadmin", "--mobile", user["mobile"], "--password", "New#admin2024")
    assert result.returncode == 0, result.stderr
    stored = io_loop.run_sync(lambda: app.db.scalar("SELECT password_hash FROM users WHERE id = %s", user["id"]))
    assert bcrypt.checkpw(b"New#admin2024", stored.encode())
    assert io_loop.run_sync(lambda: app.sessions.get(session.token)) is None
    assert io_loop.run_sync(lambda: app.db.scalar("SELECT COUNT(*) FROM users")) == 1
