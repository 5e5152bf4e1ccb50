"""Small hardening rules: a safe ``next``, bad bytes in file paths, HEAD on pages, Secure cookies over HTTPS."""

from __future__ import annotations

import http.cookies

import pytest
from tornado.netutil import bind_sockets

import server
from handlers.base import FLASH_COOKIE, SESSION_COOKIE, safe_next
from tests.utils.client import Client, text
from tests.utils.factories import PASSWORD, make_house, make_user

# -- next= -------------------------------------------------------------------------

CONTROL_CHARACTERS = [chr(c) for c in range(0x20)] + ["\x7f"]


@pytest.mark.parametrize("char", CONTROL_CHARACTERS + ["\\"], ids=lambda c: f"U+{ord(c):04X}")
def test_safe_next_refuses_control_characters_and_backslashes_anywhere(char):
    for value in (f"/{char}evil.example", f"/houses{char}", f"/my/orders?role=guest{char}x", f"{char}/houses"):
        assert safe_next(value) == "/", repr(value)
        assert safe_next(value, "/my/houses") == "/my/houses", repr(value)


def test_safe_next_keeps_local_paths():
    for value in ("/", "/houses?area_id=110105&sd=2030-01-01", "/my/orders?role=landlord#top", "/houses/12/edit",
                  "/houses?q=%E4%B8%AD%0B"):  # percent-encoded bytes are plain text here
        assert safe_next(value) == value
    for value in ("//evil.example", "https://evil.example/", "evil", "", None, "/\\evil.example"):
        assert safe_next(value) == "/"


@pytest.mark.gen_test
@pytest.mark.parametrize("char", ["\x0b", "\x0c", "\t", "\n", "\r", "\x7f", "\\", "\x00", "\x1b"], ids=repr)
async def test_login_with_a_control_character_in_next_redirects_locally(client, app, char):
    # \x0b and \x0c used to reach the Location header and raise there: a 500 after the session was made.
    user = await make_user(app)
    response = await client.post("/login", {"mobile": user["mobile"], "password": PASSWORD,
                                            "next": f"/houses{char}/evil"})
    assert response.code == 302
    assert SESSION_COOKIE in client.cookies
    location = response.headers["Location"]
    if char in "\x00\x1b":
        # Tornado's get_argument already turns most C0 characters into a space: a harmless local path.
        assert location == "/houses /evil"
    else:
        assert location == "/"


# -- bad bytes in file paths -------------------------------------------------------

BAD_PATH_PARTS = ["%00", "%01", "%0A", "%0D", "%1F", "%7F", "%5C", "a%00.css"]


@pytest.mark.gen_test
@pytest.mark.parametrize("part", BAD_PATH_PARTS)
async def test_bad_byte_in_static_path_is_400(client, part):
    assert (await client.get("/static/css/site.css")).code == 200
    response = await client.get(f"/static/css/{part}site.css")
    assert response.code == 400, part
    head = await client.fetch("HEAD", f"/static/{part}")
    assert head.code == 400, part


@pytest.mark.gen_test
@pytest.mark.parametrize("part", BAD_PATH_PARTS)
async def test_bad_byte_in_media_path_is_not_a_server_error(client, app, part):
    (app.config.media_dir / "ok.txt").write_bytes(b"ok")
    response = await client.get(f"/media/{part}ok.txt")
    assert response.code == 400, part


# -- HEAD ------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_head_answers_like_get_without_a_body(client, app, login):
    owner = await make_user(app)
    house = await make_house(app, owner)
    for path in ("/", "/houses", f"/houses/{house['id']}", "/login", "/api/v1/areas", "/no-such-page"):
        get = await client.get(path)
        head = await client.fetch("HEAD", path)
        assert head.code == get.code, path
        assert head.body == b"", path
        assert head.headers["Content-Type"] == get.headers["Content-Type"], path
        assert int(head.headers["Content-Length"]) > 0, path
    await login(client, owner)
    for path in ("/my/houses", "/profile", f"/houses/{house['id']}/edit"):
        head = await client.fetch("HEAD", path)
        assert head.code == 200 and head.body == b"", path
        assert head.headers["Cache-Control"] == "no-store", path


@pytest.mark.gen_test
async def test_head_follows_the_login_guard_and_post_only_routes(client, app):
    assert (await client.fetch("HEAD", "/my/houses")).headers["Location"] == "/login?next=%2Fmy%2Fhouses"
    # A route without GET has no HEAD either.
    assert (await client.fetch("HEAD", "/logout")).code == 405


# -- Secure cookies behind an HTTPS proxy -------------------------------------------

@pytest.fixture
def xheaders():
    """Whether the app trusts the proxy's headers; tests parametrize it."""
    return True


@pytest.fixture
def settings(base_settings, xheaders):
    return base_settings.replace(xheaders=xheaders)


@pytest.fixture
def behind_proxy(app, io_loop, http_client):
    """A Client against the HTTPServer that server.create_http_server makes for this app (xheaders as set)."""
    sockets = bind_sockets(0, "127.0.0.1")
    http_server = server.create_http_server(app)
    http_server.add_sockets(sockets)
    yield Client(http_client, f"http://127.0.0.1:{sockets[0].getsockname()[1]}")
    http_server.stop()
    io_loop.run_sync(http_server.close_all_connections)


def cookie_flags(response) -> dict[str, http.cookies.Morsel]:
    """The Set-Cookie headers of *response* by cookie name."""
    morsels = {}
    for header in response.headers.get_list("Set-Cookie"):
        jar = http.cookies.SimpleCookie()
        jar.load(header)
        morsels.update(jar)
    return morsels


async def log_in(client: Client, app, proto: str | None):
    """GET the login form and POST a correct login, both with X-Forwarded-Proto *proto*; the two responses."""
    user = await make_user(app)
    headers = {"X-Forwarded-Proto": proto} if proto else {}
    form = await client.get("/login", headers=headers)
    login = await client.post("/login", {"mobile": user["mobile"], "password": PASSWORD}, headers=headers)
    assert form.code == 200 and login.code == 302, text(login)
    return form, login


@pytest.mark.gen_test
@pytest.mark.parametrize("xheaders", [True])
async def test_cookies_are_secure_behind_an_https_proxy(behind_proxy, app):
    form, login = await log_in(behind_proxy, app, "https")
    assert cookie_flags(form)["_xsrf"]["secure"] is True
    cookies = cookie_flags(login)
    assert {SESSION_COOKIE, FLASH_COOKIE} <= cookies.keys()
    for name in (SESSION_COOKIE, FLASH_COOKIE):
        assert cookies[name]["secure"] is True, name
        assert cookies[name]["httponly"] is True, name
        assert cookies[name]["samesite"] == "Lax", name
    # The flash is shown, and cleared, on the next page: the clearing cookie is Secure too.
    page = await behind_proxy.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "登录成功" in text(page)
    assert cookie_flags(page)[FLASH_COOKIE]["secure"] is True


@pytest.mark.gen_test
@pytest.mark.parametrize("xheaders", [True])
async def test_cookies_are_not_secure_over_plain_http_behind_the_proxy(behind_proxy, app):
    for proto in ("http", None):
        client = Client(behind_proxy.http_client, behind_proxy.base_url)
        form, login = await log_in(client, app, proto)
        assert cookie_flags(form)["_xsrf"]["secure"] == "", proto
        assert cookie_flags(login)[SESSION_COOKIE]["secure"] == "", proto


@pytest.mark.gen_test
@pytest.mark.parametrize("xheaders", [False])
async def test_forwarded_proto_is_ignored_without_xheaders(behind_proxy, app):
    # Anyone can send X-Forwarded-Proto; only a server configured for a proxy may believe it.
    form, login = await log_in(behind_proxy, app, "https")
    assert cookie_flags(form)["_xsrf"]["secure"] == ""
    assert cookie_flags(login)[SESSION_COOKIE]["secure"] == ""
