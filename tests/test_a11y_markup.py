"""Every HTML page of the route table has the accessible skeleton: one h1, a skip link, labelled landmarks.

The walk takes server.routes() itself, so a new page is checked without anyone
remembering to add it here. Each GET route is fetched anonymously, as a guest
with an order and a conversation, and as the admin who owns the listing (so the
owner's, guest's and admin's pages render, not only redirects); every text/html
answer — error pages included — is parsed with html.parser and must have:

- ``<html lang="…">``;
- exactly one ``<h1>`` and no skipped heading level (h1 → h3 without an h2);
- the skip link ("跳到主要内容" → ``#main``) as the first focusable element, and
  ``<main id="main">``;
- a label on every ``<nav>`` (aria-label / aria-labelledby), no two the same.

The browser check (tests/e2e/test_axe.py) runs axe-core over the rendered pages;
this one is the fast guard in the unit suite.
"""

from __future__ import annotations

import html.parser
import re

import pytest

from tests.utils.client import Client, text
from tests.utils.routes import get_paths, make_world

FOCUSABLE = {"a", "button", "input", "select", "textarea", "summary"}


class Skeleton(html.parser.HTMLParser):
    """Collects what the checks need: lang, headings, the first focusable element, main, navs."""

    def __init__(self):
        super().__init__()
        self.lang: str | None = None
        self.headings: list[int] = []
        self.first_focusable: tuple[str, dict] | None = None
        self.main_ids: list[str | None] = []
        self.nav_labels: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        attrs = {name: value or "" for name, value in attrs}
        if tag == "html":
            self.lang = attrs.get("lang")
        elif re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        elif tag == "main":
            self.main_ids.append(attrs.get("id"))
        elif tag == "nav":
            self.nav_labels.append(attrs.get("aria-label") or attrs.get("aria-labelledby"))
        focusable = (tag in FOCUSABLE and attrs.get("type") != "hidden" and not (tag == "a" and "href" not in attrs)
                     and attrs.get("tabindex") != "-1")
        if focusable and self.first_focusable is None:
            self.first_focusable = (tag, attrs)


def problems_of(body: str) -> list[str]:
    """What the page's markup lacks, in words ([] when the skeleton is complete)."""
    page = Skeleton()
    page.feed(body)
    page.close()
    found = []
    if not page.lang:
        found.append("no <html lang>")
    if page.headings.count(1) != 1:
        found.append(f"{page.headings.count(1)} <h1> (want exactly 1)")
    for before, after in zip(page.headings, page.headings[1:]):
        if after > before + 1:
            found.append(f"heading level skipped: h{before} → h{after}")
    tag, attrs = page.first_focusable or ("none", {})
    if not (tag == "a" and attrs.get("href") == "#main" and "skip-link" in attrs.get("class", "").split()):
        found.append(f"first focusable element is <{tag} {attrs}>, not the skip link")
    if page.main_ids != ["main"]:
        found.append(f"<main> ids {page.main_ids} (want one <main id=main>)")
    if None in page.nav_labels or "" in page.nav_labels:
        found.append(f"a <nav> without a label: {page.nav_labels}")
    if len(set(page.nav_labels)) != len(page.nav_labels):
        found.append(f"two <nav>s with the same label: {page.nav_labels}")
    return found


@pytest.fixture
def world(app, io_loop):
    """An admin who owns an online listing with a photo; a guest with an order of it and a conversation."""
    return io_loop.run_sync(lambda: make_world(app))


async def checked_pages(client: Client, paths: list[str]) -> dict[str, int]:
    """GET every path; check each HTML answer's skeleton. Returns {path: status} of the HTML answers."""
    pages, failures = {}, {}
    for path in paths:
        response = await client.get(path)
        if 300 <= response.code < 400 or not response.headers.get("Content-Type", "").startswith("text/html"):
            continue  # redirects have no page; pictures, JSON, calendars are not pages
        pages[path] = response.code
        found = problems_of(text(response))
        if found:
            failures[f"{path} ({response.code})"] = found
    assert failures == {}, "\n".join(f"{page}: {found}" for page, found in failures.items())
    return pages


@pytest.mark.gen_test
async def test_every_page_has_the_skeleton_anonymously(client, world):
    pages = await checked_pages(client, get_paths(world, websockets=False))
    for path in ("/", "/houses", f"/houses/{world['house']}", "/login", "/register", f"/users/{world['user']}"):
        assert pages.get(path) == 200, (path, pages.get(path))


@pytest.mark.gen_test
async def test_every_page_has_the_skeleton_for_a_guest(client, login, world):
    await login(client, world["guest"])
    pages = await checked_pages(client, get_paths(world, websockets=False))
    for path in ("/my/orders", f"/orders/{world['order']}", "/messages", f"/messages/{world['conversation']}",
                 "/profile", "/profile/sessions", "/my/favourites"):
        assert pages.get(path) == 200, (path, pages.get(path))


@pytest.mark.gen_test
async def test_every_page_has_the_skeleton_for_the_admin_host(client, login, world):
    await login(client, world["admin"], is_admin=True)
    pages = await checked_pages(client, get_paths(world, websockets=False))
    for path in (f"/houses/{world['house']}/edit", "/houses/new", "/my/houses", "/admin", "/admin/houses",
                 f"/admin/houses/{world['house']}", "/admin/users", f"/admin/users/{world['user']}",
                 "/admin/orders", "/admin/logins", "/profile/auth"):
        assert pages.get(path) == 200, (path, pages.get(path))


@pytest.mark.gen_test
async def test_error_pages_have_the_skeleton_and_plain_words(client, world):
    missing = await client.get("/no-such-page")
    assert missing.code == 404 and problems_of(text(missing)) == []
    assert "找不到这个页面" in text(missing) and 'href="/no-such-page"' in text(missing)  # 重试 reloads it
    expired = await client.post("/login", {"mobile": "13800000000", "password": "x"}, xsrf=False,
                                headers={"Referer": "http://evil.example/x"})
    assert expired.code == 403 and problems_of(text(expired)) == []
    assert "这个页面已过期，请刷新后重试" in text(expired) and "没有权限" not in text(expired)
    # 重试 for a POST goes back to the form, but only to a page of this site.
    assert re.search(r'href="([^"]*)" id="error-retry"', text(expired)).group(1) == "/"
    own = await client.post("/login", {"mobile": "13800000000"}, xsrf=False,
                            headers={"Referer": client.base_url + "/login?next=/my/orders"})
    assert re.search(r'href="([^"]*)" id="error-retry"', text(own)).group(1) == "/login?next=/my/orders"


def test_the_checks_catch_a_bare_page():
    # The checker itself must be able to fail.
    bare = '<html><body><nav></nav><nav aria-label="x"></nav><h2>a</h2><h4>b</h4><a href="/">x</a></body></html>'
    found = " | ".join(problems_of(bare))
    for expected in ("no <html lang>", "0 <h1>", "h2 → h4", "not the skip link", "<main> ids", "without a label"):
        assert expected in found, (expected, found)


@pytest.mark.gen_test
async def test_busy_and_unavailable_pages_say_when_to_retry(client, app):
    from handlers.base import UNAVAILABLE_MESSAGE, BaseHandler, PageError

    class BusyHandler(BaseHandler):  # as the rate limits answer (handlers/auth.py refuse_too_many)
        async def get(self):
            self.set_status(429)
            self.set_header("Retry-After", "90")
            self.render("error.html", status_code=429, message=None)

    class DownHandler(BaseHandler):
        async def get(self):
            raise PageError(503, UNAVAILABLE_MESSAGE)

    app.add_handlers(r".*", [(r"/busy", BusyHandler), (r"/down", DownHandler)])
    busy = await client.get("/busy?x=1")
    assert busy.code == 429 and problems_of(text(busy)) == []
    assert "操作太频繁了" in text(busy) and "请在 90 秒后再试" in text(busy)
    assert re.search(r'href="([^"]*)" id="error-retry"', text(busy)).group(1) == "/busy?x=1"
    down = await client.get("/down")
    retry_after = down.headers["Retry-After"]
    assert down.code == 503 and problems_of(text(down)) == []
    assert "服务暂时不可用" in text(down) and f"请在 {retry_after} 秒后重试" in text(down)
    # Every error page offers the search box, labelled.
    for response in (busy, down):
        body = text(response)
        assert 'action="/houses"' in body and 'role="search"' in body
        for field in ("sd", "ed", "guests"):  # what /houses filters by, each labelled
            assert f'for="{field}"' in body and f'name="{field}"' in body, field
