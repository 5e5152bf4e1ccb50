"""Every route of the route table answers with the security headers, runs no inline script, and answers HEAD.

The walk takes server.routes() itself, so a new route is checked without
anyone remembering to add it here: each GET route is fetched anonymously and
as a logged-in admin who owns the listing (so the owner's and the admin's pages
render, not only redirects), and each answer is checked for the fixed headers,
``Cache-Control: no-store`` where private data may show, and markup the
Content-Security-Policy would refuse to run.
"""

from __future__ import annotations

import html.parser

import pytest

from handlers.security import SECURITY_HEADERS
from tests.utils.client import Client, text
from tests.utils.routes import get_paths, make_world

@pytest.fixture
def world(app, io_loop):
    """An admin who owns an online listing with a photo, and a guest's order of it; their ids
    (the user pages point at the guest)."""
    world = io_loop.run_sync(lambda: make_world(app))
    return {**world, "user": world["guest"]["id"]}


class InlineCode(html.parser.HTMLParser):
    """Collects what a strict CSP refuses: inline scripts, event-handler and style attributes, <style>."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
            if name == "style":
                self.problems.append(f"<{tag} style=…>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                    "javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")
        if tag == "style":
            self.problems.append("<style>")
        if tag == "script":
            # Data blocks (type="application/json") are never run, so the CSP does not apply to them.
            self._in_script = "src" not in attrs and attrs.get("type") != "application/json"

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append(f"inline <script>: {data.strip()[:60]}")


def inline_code(body: str) -> list[str]:
    parser = InlineCode()
    parser.feed(body)
    parser.close()
    return parser.problems


def check_headers(response, path: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (path, name, response.headers.get(name))
    assert "tornado" not in response.headers.get("Server", "").lower(), path


async def walk(client: Client, paths: list[str]) -> dict[str, object]:
    """GET every path: the responses by path, after checking headers and markup of each."""
    responses = {}
    for path in paths:
        response = await client.get(path)
        assert response.code < 500, (path, response.code)
        check_headers(response, path)
        if response.headers.get("Content-Type", "").startswith("text/html"):
            assert inline_code(text(response)) == [], path
        responses[path] = response
    return responses


@pytest.mark.gen_test
async def test_every_get_route_sends_the_headers_anonymously(client, app, world):
    paths = get_paths(world)
    for expected in ("/", "/houses", f"/houses/{world['house']}", "/profile", "/admin", "/api/v1/areas",
                     f"/orders/{world['order']}", "/captcha/abcdefgh.png"):
        assert expected in paths
    responses = await walk(client, paths)
    # The route table's private areas are never stored by a cache, even when they only redirect to a login.
    for path, response in responses.items():
        if path.startswith(("/profile", "/orders/", "/my/", "/admin")):
            assert response.headers.get("Cache-Control") == "no-store", path
    # Public pages are rendered (not only redirects), so their markup was checked too.
    for path in ("/", "/houses", f"/houses/{world['house']}", "/login", "/register"):
        assert responses[path].code == 200, path


@pytest.mark.gen_test
async def test_every_get_route_sends_the_headers_to_a_logged_in_admin(client, app, login, world):
    await login(client, world["admin"], is_admin=True)
    responses = await walk(client, get_paths(world))
    for path, response in responses.items():
        # Every page for a logged-in person may show their name or data.
        assert response.headers.get("Cache-Control") == "no-store", path
    rendered = [path for path, response in responses.items() if response.code == 200]
    # The owner's and the admin's own pages really rendered (and so had their markup checked).
    for path in (f"/houses/{world['house']}/edit", "/my/houses", "/my/orders", f"/orders/{world['order']}",
                 "/profile", "/profile/auth", "/profile/sessions", "/admin", "/admin/houses",
                 f"/admin/houses/{world['house']}", f"/admin/users/{world['user']}", "/admin/logins"):
        assert path in rendered, path


@pytest.mark.gen_test
async def test_every_get_route_answers_head_like_get(client, app, login, world):
    await login(client, world["admin"], is_admin=True)
    for path in get_paths(world):
        get = await client.get(path)
        head = await client.fetch("HEAD", path)
        assert head.code == get.code, path
        assert head.body == b"", path
        check_headers(head, path)


@pytest.mark.gen_test
async def test_error_answers_carry_the_headers(client, app):
    cases = {
        "404 page": await client.get("/no-such-page"),
        "404 api": await client.get("/api/v1/no-such"),
        "403 xsrf": await client.post("/login", {"mobile": "1"}, xsrf=False),
        "405": await client.fetch("OPTIONS", "/houses"),
        "static": await client.get("/static/css/site.css"),
        "static 404": await client.get("/static/css/none.css"),
        "static 400": await client.get("/static/css/%00.css"),
        "media 404": await client.get("/media/none.jpg"),
    }
    expected = {"404 page": 404, "404 api": 404, "403 xsrf": 403, "405": 405, "static": 200,
                "static 404": 404, "static 400": 400, "media 404": 404}
    for name, response in cases.items():
        assert response.code == expected[name], name
        check_headers(response, name)


@pytest.mark.gen_test
async def test_public_pages_for_a_visitor_stay_cacheable(client, app):
    # no-store is for private data only: a visitor's search page (no cookie in, none out) may be cached.
    response = await client.get("/houses")
    assert response.code == 200
    assert response.headers.get_list("Set-Cookie") == []
    assert "no-store" not in response.headers.get("Cache-Control", "")
    # The same page for a request that carries a session cookie (even a stale one) is not stored.
    stale = await client.get("/houses", headers={"Cookie": "ihome_session=stale"})
    assert stale.headers.get("Cache-Control") == "no-store"


@pytest.mark.gen_test
async def test_a_response_that_sets_a_cookie_is_not_stored(client, app):
    # The login form sets the XSRF cookie: a shared cache must not hand it to another visitor.
    response = await client.get("/login")
    assert "_xsrf" in response.headers.get("Set-Cookie", "")
    assert response.headers.get("Cache-Control") == "no-store"
