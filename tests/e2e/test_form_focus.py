"""A refused form takes the keyboard to what is wrong, and tables read as cards on a phone.

The server answers the form (novalidate: no browser bubble stops the post); static/js/forms.js then
focuses the error summary, whose links focus their field. On a 390 px wide screen the sessions table
(.table-stack) shows each cell with its column name before it and the header row out of sight.
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.helpers import PASSWORD, login, make_verified_user, path_of


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
    assert before == '"位置"'
    assert page.locator("#sessions thead").bounding_box()["height"] <= 1
    # a card cell is a line of text, not a column one character wide
    box = cell.bounding_box()
    assert box["width"] > 250 and box["height"] < 60, box
