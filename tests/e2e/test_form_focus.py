"""A refused form takes the keyboard to what is wrong, and tables read as cards on a phone.

The server answers the form (novalidate: no browser bubble stops the post); static/js/forms.js then
focuses the error summary, whose links focus their field. On a 390 px wide screen the sessions table
(.table-stack) shows each cell with its column name before it and the header row out of sight.
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.helpers import PASSWORD, login, make_house, make_verified_user, path_of


def test_an_invalid_login_focuses_the_summary_then_the_field(page, live_server):
    page.goto(f"{live_server.url}/login")
    with page.expect_navigation():
        page.locator("#login-form [type=submit]").click()  # both fields empty
    assert path_of(page) == "/login"
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("请修改以下 2 处")
    expect(page.locator("#mobile")).to_have_attribute("aria-invalid", "true")
    page.keyboard.press("Tab")  # the first link of the summary, then Enter follows it
    expect(summary.locator("a").first).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#mobile")).to_be_focused()


def test_a_wrong_password_focuses_the_form_message(page, live_server, db):
    user = make_verified_user(db, name="表单焦点测试")
    page.goto(f"{live_server.url}/login")
    page.fill("#mobile", user["mobile"])
    page.fill("#password", PASSWORD + "x")
    with page.expect_navigation():
        page.locator("#login-form [type=submit]").click()
    expect(page.locator("#form-error")).to_be_focused()


def test_sessions_table_is_cards_on_a_phone(page, live_server, db):
    user = make_verified_user(db, name="表格卡片测试")
    login(page, live_server, user["mobile"], PASSWORD)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/profile/sessions")
    cell = page.locator("#sessions td[data-label=位置]").first
    before = cell.evaluate("td => getComputedStyle(td, '::before').content")
    assert before.startswith('"位置"'), before  # shown; '/ ""' keeps it from being read twice
    assert page.locator("#sessions thead").bounding_box()["height"] <= 1
    # a card cell is a line of text, not a column one character wide
    box = cell.bounding_box()
    assert box["width"] > 250 and box["height"] < 60, box


def test_refused_forms_pass_axe(browser, live_server, db):
    """The error states (summary, marked fields, messages) at desktop and phone widths: no critical,
    serious or unaccepted moderate axe finding (tests/e2e/test_axe.py checks the pages as they open)."""
    from tests.e2e.test_axe import AXE, Checker, assert_clean

    host = make_verified_user(db, name="表单无障碍房东")
    house = make_house(db, host["id"], title="表单无障碍检查的房源")
    context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
    context.set_default_timeout(15_000)
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    checker = Checker(live_server.url)

    def refused(url: str, form: str, fill: dict[str, str] | None = None) -> None:
        page.goto(live_server.url + url)
        for selector, value in (fill or {}).items():
            page.fill(selector, value)
        with page.expect_navigation():
            page.locator(f"{form} [type=submit]").first.click()
        assert page.locator(f"{form} [data-error-summary]").count() == 1, url

    try:
        refused("/login", "#login-form")
        checker.check(page, "login-refused", None)
        refused("/register", "#register-form", {"#mobile": "12", "#password": "short"})
        checker.check(page, "register-refused", None)
        login(page, live_server, host["mobile"], PASSWORD)
        refused("/houses/new", "#house-form", {"#title": "", "#price": "abc"})
        checker.check(page, "publish-refused", None)
        refused(f"/houses/{house}/edit", "#block-form")
        checker.check(page, "block-refused", None)
        refused("/profile", "#password-form", {"#new_password": "short"})
        checker.check(page, "password-refused", None)
        checker.check(page, "sessions", "/profile/sessions")
    finally:
        context.close()
    assert_clean(checker)
