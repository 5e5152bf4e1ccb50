"""axe-core over every kind of page, at desktop (1366×900) and phone (390×844) widths.

axe-core comes from its npm package, vendored into tests/vendor/axe-core/ by
``scripts/vendor.sh axe-core`` (never served by the site). Each context injects
it with ``context.add_init_script(path=…)``: Playwright runs init scripts through
the DevTools protocol, so the site's Content-Security-Policy (which refuses
``page.add_script_tag``'s inline code) stays on and the pages are checked as
visitors get them; the 650 KB script is also sent to the browser once per
context instead of once per page.

Each role (visitor, guest, host — who is also the admin) gets one browser
context, logged in once; every page is checked at both widths by resizing the
viewport. The pass: no critical and no serious violation anywhere, and no
moderate one besides ACCEPTED_MODERATE. On failure the message lists each
violation as ``impact rule-id page@width: target``.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.e2e.helpers import PASSWORD, login, make_house, make_verified_user, path_of

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"
VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
# Moderate findings we live with, as (rule id, page kind) pairs — each with its reason. Ideally empty.
ACCEPTED_MODERATE: set[tuple[str, str]] = set()

# Only the result type we assert on: axe is several times faster without passes/incomplete.
RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations.map(v => ({ id: v.id, impact: v.impact,
    targets: v.nodes.slice(0, 3).map(n => n.target.join(' ')), count: v.nodes.length }));
}"""


def day(offset: int) -> str:
    return (datetime.date.today() + datetime.timedelta(days=offset)).isoformat()


class Checker:
    """Collects axe's violations page by page; ``findings`` are (impact, rule, page kind, width, targets)."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.findings: list[tuple[str, str, str, str, str]] = []
        self.checked: list[str] = []

    def check(self, page: Page, kind: str, url: str | None = None, status: int | None = 200,
              widths: tuple[str, ...] = tuple(VIEWPORTS)) -> None:
        """Open *url* (unless None: the page as it stands), then run axe at each of *widths*."""
        if url is not None:
            response = page.goto(self.base_url + url)
            assert response is not None, url
            if status is not None:
                assert response.status == status, (kind, url, response.status)
        for width in widths:
            page.set_viewport_size(VIEWPORTS[width])
            for v in page.evaluate(RUN_AXE):
                self.findings.append((v["impact"] or "minor", v["id"], kind, width,
                                      f"{v['count']}× " + " | ".join(v["targets"])))
        self.checked.append(kind)

    def report(self) -> list[str]:
        """The findings that fail the test, one line each."""
        bad = [f for f in self.findings
               if f[0] in ("critical", "serious") or (f[0] == "moderate" and (f[1], f[2]) not in ACCEPTED_MODERATE)]
        return [f"{impact} {rule} {kind}@{width}: {targets}" for impact, rule, kind, width, targets in bad]


@pytest.fixture(scope="module")
def axe_world(browser, live_server):
    """A host (also the admin) with two listings, a guest with an order and a conversation, and
    one logged-in context per role, each with axe-core injected into every page it opens."""
    import pymysql
    import pymysql.cursors

    from config import test_settings

    params = test_settings().mysql
    db = pymysql.connect(host=params.host, port=params.port, user=params.user, password=params.password,
                         database=live_server.db_name, charset="utf8mb4", autocommit=True,
                         cursorclass=pymysql.cursors.DictCursor)
    host = make_verified_user(db, is_admin=True, name="无障碍房东")
    guest = make_verified_user(db, name="无障碍住客")
    house = make_house(db, host["id"], title="无障碍检查的两居室", capacity=4)
    make_house(db, host["id"], title="无障碍检查的一居室", price_fen=18800)
    with db.cursor() as cur:
        cur.execute("INSERT INTO orders (guest_id, house_id, check_in, check_out, nights, price_fen, amount_fen) "
                    "VALUES (%s, %s, %s, %s, 2, 28800, 57600)", (guest["id"], house, day(20), day(22)))
        order = cur.lastrowid
    db.close()

    contexts: dict[str, BrowserContext] = {}
    pages: dict[str, Page] = {}
    for role in ("visitor", "guest", "host"):
        context = browser.new_context(locale="zh-CN", viewport=VIEWPORTS["desktop"])
        context.set_default_timeout(15_000)
        context.add_init_script(path=str(AXE))
        contexts[role], pages[role] = context, context.new_page()
    login(pages["guest"], live_server, guest["mobile"], PASSWORD)
    # The guest's conversation about the listing, through the listing page's 联系房东 form.
    pages["guest"].goto(f"{live_server.url}/houses/{house}")
    with pages["guest"].expect_navigation():
        pages["guest"].locator(f'form[action="/houses/{house}/contact"] [type=submit]').first.click()
    conversation = int(path_of(pages["guest"]).rsplit("/", 1)[1])
    # The admin session (/admin/login) serves the host's own pages as well.
    host_page = pages["host"]
    host_page.goto(f"{live_server.url}/admin/login")
    host_page.fill("#mobile", host["mobile"])
    host_page.fill("#password", PASSWORD)
    with host_page.expect_navigation():
        host_page.locator("form [type=submit]").first.click()
    assert path_of(host_page) == "/admin", path_of(host_page)
    yield {"pages": pages, "house": house, "order": order, "conversation": conversation,
           "host": host["id"], "guest": guest["id"]}
    for context in contexts.values():
        context.close()


def assert_clean(checker: Checker) -> None:
    failures = checker.report()
    assert not failures, (f"{len(failures)} axe violation(s) on {len(checker.checked)} pages:\n"
                          + "\n".join(sorted(failures)))


def test_visitor_pages_pass_axe(axe_world, live_server):
    page, house = axe_world["pages"]["visitor"], axe_world["house"]
    checker = Checker(live_server.url)
    checker.check(page, "home", "/")
    checker.check(page, "search", "/houses")
    checker.check(page, "search-dates", f"/houses?sd={day(30)}&ed={day(32)}&guests=2")
    checker.check(page, "search-empty", "/houses?price_min=99999")
    checker.check(page, "search-invalid", "/houses?price_min=abc", status=400)
    checker.check(page, "listing-visitor", f"/houses/{house}")
    checker.check(page, "host-page", f"/users/{axe_world['host']}")
    checker.check(page, "login", "/login")
    checker.check(page, "register", "/register")
    checker.check(page, "admin-login", "/admin/login")
    checker.check(page, "404", "/no-such-page", status=404)
    # An expired form: the token in the page no longer matches the cookie → the 403 page in plain words.
    page.goto(live_server.url + "/login")
    page.fill("#mobile", "13800000000")
    page.fill("#password", "whatever1")
    page.evaluate("document.querySelector('#login-form input[name=_xsrf]').value = 'stale'")
    with page.expect_navigation():
        page.locator("#login-form [type=submit]").click()
    assert "这个页面已过期" in page.locator("h1").inner_text()
    checker.check(page, "403-expired-form")
    assert_clean(checker)


def test_guest_pages_pass_axe(axe_world, live_server):
    page, house = axe_world["pages"]["guest"], axe_world["house"]
    checker = Checker(live_server.url)
    checker.check(page, "home-guest", "/")
    checker.check(page, "listing-guest", f"/houses/{house}?sd={day(40)}&ed={day(42)}")
    # A refused booking (no dates): the listing page again, with the error summary.
    with page.expect_navigation():  # more guests than the listing takes; submit() skips the page's own checks
        page.evaluate("(f => { f.guests.value = '99'; f.submit(); })(document.getElementById('booking-form'))")
    assert page.locator("#booking-error-summary").count() == 1
    checker.check(page, "booking-refused", None)
    checker.check(page, "my-orders-guest", "/my/orders?role=guest")
    checker.check(page, "order-guest", f"/orders/{axe_world['order']}")
    checker.check(page, "inbox", "/messages")
    checker.check(page, "thread-guest", f"/messages/{axe_world['conversation']}")
    checker.check(page, "profile", "/profile")
    checker.check(page, "profile-auth", "/profile/auth")
    checker.check(page, "profile-sessions", "/profile/sessions")
    checker.check(page, "favourites", "/my/favourites")
    # Open menus: the phone's expanded header with the account menu dropped down.
    page.set_viewport_size(VIEWPORTS["phone"])
    page.goto(live_server.url + "/")
    page.locator(".navbar-toggler").click()
    page.locator("#user-menu").click()
    page.locator(".dropdown-menu.show").wait_for()
    checker.check(page, "open-menus", None, widths=("phone",))
    assert_clean(checker)


def test_host_and_admin_pages_pass_axe(axe_world, live_server):
    page, house = axe_world["pages"]["host"], axe_world["house"]
    checker = Checker(live_server.url)
    checker.check(page, "listing-host", f"/houses/{house}")
    checker.check(page, "my-houses", "/my/houses")
    checker.check(page, "publish", "/houses/new")
    checker.check(page, "edit", f"/houses/{house}/edit")
    checker.check(page, "my-orders-host", "/my/orders?role=landlord")
    checker.check(page, "order-host", f"/orders/{axe_world['order']}")
    checker.check(page, "thread-host", f"/messages/{axe_world['conversation']}")
    checker.check(page, "admin-dashboard", "/admin")
    checker.check(page, "admin-houses", "/admin/houses")
    checker.check(page, "admin-house", f"/admin/houses/{house}")
    checker.check(page, "admin-users", "/admin/users")
    checker.check(page, "admin-user", f"/admin/users/{axe_world['guest']}")
    checker.check(page, "admin-orders", "/admin/orders")
    checker.check(page, "admin-logins", "/admin/logins")
    assert_clean(checker)


def test_home_carousel_can_be_paused_and_keeps_still_for_reduced_motion(axe_world, live_server):
    page = axe_world["pages"]["visitor"]
    page.set_viewport_size(VIEWPORTS["desktop"])
    page.goto(live_server.url + "/")
    toggle = page.locator("#top-carousel-toggle")
    assert toggle.is_visible() and toggle.inner_text().strip() == "暂停轮播"
    running = "() => bootstrap.Carousel.getInstance(document.getElementById('top-carousel'))._interval !== null"
    assert page.evaluate(running)
    toggle.focus()
    page.keyboard.press("Enter")
    assert toggle.inner_text().strip() == "继续轮播"
    page.locator("#latest a").first.focus()  # leaving the carousel does not restart a paused one
    assert not page.evaluate(running)
    # Reduced motion: no rotation at all, so nothing to pause.
    page.emulate_media(reduced_motion="reduce")
    try:
        page.goto(live_server.url + "/")
        assert page.locator("#top-carousel-toggle").is_hidden()
        assert page.evaluate("() => bootstrap.Carousel.getInstance(document.getElementById('top-carousel')) === null")
    finally:
        page.emulate_media(reduced_motion="no-preference")


def test_skip_link_comes_first_and_every_focus_shows_a_ring(axe_world, live_server):
    page = axe_world["pages"]["visitor"]
    page.set_viewport_size(VIEWPORTS["desktop"])
    ring = ("() => { const el = document.activeElement, s = getComputedStyle(el);"
            " return {name: el.tagName + '.' + el.className + '#' + el.id, style: s.outlineStyle,"
            " width: parseFloat(s.outlineWidth), inMain: !!el.closest('main'), body: el === document.body}; }")
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    assert skip.is_visible() and skip.inner_text() == "跳到主要内容"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    # From there, Tab through to the end of the page: the first stop is inside <main> (the header
    # was skipped), and every element that takes focus shows a solid ring at least 2 px wide.
    seen = []
    for _ in range(80):
        page.keyboard.press("Tab")
        focused = page.evaluate(ring)
        if focused["body"]:
            break  # past the last element
        assert focused["style"] == "solid" and focused["width"] >= 2, focused
        seen.append(focused)
    assert seen and seen[0]["inMain"], seen[:1]
    assert any("btn-brand" in f["name"] for f in seen), [f["name"] for f in seen]
    # The header's links on the brand colour ring too.
    page.goto(live_server.url + "/")
    for _ in range(3):  # skip link, 爱家, 找房
        page.keyboard.press("Tab")
        focused = page.evaluate(ring)
        assert focused["style"] == "solid" and focused["width"] >= 2, focused
    assert "nav-link" in focused["name"], focused
