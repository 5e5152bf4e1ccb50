"""The Content-Security-Policy in a real browser: Chromium enforces it and reports no violation on the pages.

Two listeners catch violations: the console ("Refused to …" messages Chromium
logs) and the ``securitypolicyviolation`` DOM event, recorded by an init script
(Playwright runs it through the DevTools protocol, so the policy does not stop
it). A planted inline script first proves both listeners see a violation.
The pages' own scripts must still run: the booking preview, the charts, the
data-confirm question before deleting a listing.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import PASSWORD, login, make_house, make_jpeg, make_verified_user, path_of

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sourceFile || '') + ':' + e.lineNumber);
});
"""


class Violations:
    """What the console and the DOM event reported on *page* since it was made."""

    def __init__(self, page: Page):
        self.page = page
        self.console: list[str] = []
        self.errors: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _on_console(self, message) -> None:
        if message.type in ("error", "warning") and (
                "Content Security Policy" in message.text or "Permissions-Policy" in message.text):
            self.console.append(message.text)

    def dom(self) -> list[str]:
        return self.page.evaluate("() => window.__csp || []")

    def visit(self, url: str) -> list[str]:
        """Open *url*, let its scripts run; everything reported on it (console, DOM, script errors)."""
        before = len(self.console), len(self.errors)
        response = self.page.goto(url)
        assert response is not None and response.status < 500, url
        assert "default-src 'self'" in response.headers.get("content-security-policy", ""), url
        self.page.wait_for_load_state("load")
        return self.console[before[0]:] + self.errors[before[1]:] + self.dom()


@pytest.fixture
def watched(page):
    return Violations(page)


def test_a_planted_inline_script_is_refused_and_reported(watched, live_server):
    assert watched.visit(live_server.url + "/") == []
    watched.page.evaluate("""() => {
        const s = document.createElement('script');
        s.textContent = 'window.__ran = true';
        document.body.appendChild(s);
        const d = document.createElement('div');
        d.setAttribute('style', 'color: red');
        document.body.appendChild(d);
    }""")
    watched.page.wait_for_function("() => window.__csp.length >= 2")
    assert watched.page.evaluate("() => window.__ran === true") is False
    directives = " ".join(watched.dom())
    assert "script-src" in directives and "style-src" in directives
    expect(watched.page.locator("body")).to_be_visible()
    assert any("inline script" in text for text in watched.console), watched.console


def test_visitor_pages_report_no_violation(watched, live_server, db):
    owner = make_verified_user(db)
    house_id = make_house(db, owner["id"], title="CSP 测试房源")
    for path in ("/", "/houses", "/houses?area_id=110105&capacity=2", f"/houses/{house_id}", "/login",
                 "/register", "/no-such-page"):
        assert watched.visit(live_server.url + path) == [], path
    # On a phone the menu and the search filters fold behind Bootstrap's collapse.
    watched.page.set_viewport_size({"width": 375, "height": 740})
    watched.visit(live_server.url + "/houses")
    watched.page.locator(".navbar-toggler").click()
    expect(watched.page.locator("#nav a[href='/houses']")).to_be_visible()
    watched.page.locator("#filters-toggle").click()
    expect(watched.page.locator("#search-form")).to_be_visible()
    assert watched.dom() == []
    watched.page.set_viewport_size({"width": 1280, "height": 900})
    # The listing page's script ran: picking dates fills the form and the preview.
    watched.visit(f"{live_server.url}/houses/{house_id}")
    cells = watched.page.locator("#availability td.free[data-date]")
    cells.nth(1).click()
    cells.nth(3).click()
    expect(watched.page.locator("#price-preview")).to_contain_text("× 2 晚")
    assert watched.dom() == []


def test_photo_upload_previews_and_uploads_under_the_policy(watched, live_server, db, tmp_path):
    owner = make_verified_user(db)
    house_id = make_house(db, owner["id"])
    login(watched.page, live_server, owner["mobile"], PASSWORD)
    page = watched.page
    assert watched.visit(f"{live_server.url}/houses/{house_id}/edit") == []
    # The preview is a blob: URL (img-src allows it); the upload goes through upload.js's XHR.
    page.set_input_files("#image", str(make_jpeg(tmp_path / "room.jpg", 800, 600)))
    preview = page.locator("#upload-preview img")
    expect(preview).to_have_count(1)
    assert preview.get_attribute("src").startswith("blob:")
    page.wait_for_function("() => document.querySelector('#upload-preview img').naturalWidth > 0")
    upload_url = f"/houses/{house_id}/images"
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(upload_url)) as upload:
        page.click("#upload-button")
    assert upload.value.status == 200, page.locator("#upload-error").inner_text()
    expect(page.locator("#photo-list .photo")).to_have_count(1)
    page.wait_for_load_state("load")
    assert watched.dom() == [] and watched.console == [] and watched.errors == []


def test_user_pages_report_no_violation_and_confirm_still_asks(watched, live_server, db):
    owner = make_verified_user(db)
    house_id = make_house(db, owner["id"], title="要删除的房源")
    login(watched.page, live_server, owner["mobile"], PASSWORD)
    for path in ("/my/houses", "/my/orders?role=guest", "/my/orders?role=landlord", "/houses/new",
                 f"/houses/{house_id}/edit", "/profile", "/profile/auth", "/profile/sessions",
                 f"/houses/{house_id}"):
        assert watched.visit(live_server.url + path) == [], path
    # Bootstrap's dropdown (Popper places it through the CSSOM, which the policy allows) and the
    # dismissible flash message work without inline styles.
    watched.page.locator("#user-menu").click()
    expect(watched.page.locator(".dropdown-menu a[href='/profile']")).to_be_visible()
    assert watched.dom() == []

    # data-confirm (no inline onsubmit): "no" keeps the listing, "yes" deletes it.
    questions: list[str] = []
    answer = {"accept": False}

    def on_dialog(dialog):
        questions.append(dialog.message)
        dialog.accept() if answer["accept"] else dialog.dismiss()

    watched.page.on("dialog", on_dialog)
    watched.visit(f"{live_server.url}/houses/{house_id}/edit")
    delete = watched.page.locator(f"form[action='/houses/{house_id}/delete'] button")
    delete.click()
    assert questions == ["确定删除这套房源吗？"]
    assert path_of(watched.page) == f"/houses/{house_id}/edit"
    with db.cursor() as cur:
        cur.execute("SELECT status FROM houses WHERE id = %s", (house_id,))
        assert cur.fetchone()["status"] != "deleted"
    answer["accept"] = True
    with watched.page.expect_navigation():
        delete.click()
    assert len(questions) == 2
    with db.cursor() as cur:
        cur.execute("SELECT status FROM houses WHERE id = %s", (house_id,))
        assert cur.fetchone()["status"] == "deleted"
    assert watched.dom() == []


def test_admin_pages_report_no_violation_and_charts_draw(watched, live_server, db):
    admin = make_verified_user(db, is_admin=True)
    make_house(db, admin["id"], status="pending")
    page = watched.page
    page.goto(live_server.url + "/admin/login")
    page.fill("#mobile", admin["mobile"])
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.locator("#login-form [type=submit]").click()
    for path in ("/admin", "/admin/houses", "/admin/users", "/admin/orders", "/admin/logins"):
        assert watched.visit(live_server.url + path) == [], path
    watched.visit(live_server.url + "/admin")
    # Chart.js (vendored, same origin) drew from the JSON data block under the policy.
    page.wait_for_function("() => { const c = document.getElementById('chart-daily'); return c && c.chart; }")
    assert watched.dom() == []
