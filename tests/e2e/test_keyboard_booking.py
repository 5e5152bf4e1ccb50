"""Booking a stay from the listing page with the keyboard alone (Playwright ``page.keyboard``: Tab,
Shift+Tab, arrow keys and Enter — no clicks, no typing into fields), at desktop size and on a
phone (390 × 844), where the sticky 预订 bar opens the booking sheet."""

from __future__ import annotations

import datetime
import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import PASSWORD, login, make_house, make_verified_user, path_of

MAX_TABS = 120  # a generous bound on the tab stops between the page's top and the calendar


def focused(page: Page, selector: str) -> bool:
    return page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector)


def tab_to(page: Page, selector: str, key: str = "Tab") -> None:
    """Press *key* until the focused element matches *selector* (fails after MAX_TABS presses)."""
    for _ in range(MAX_TABS):
        if focused(page, selector):
            return
        page.keyboard.press(key)
    pytest.fail(f"{key} never reached {selector}; focus is on "
                f"{page.evaluate('document.activeElement && document.activeElement.outerHTML.slice(0, 200)')}")


def focused_date(page: Page) -> str:
    return page.evaluate("document.activeElement.dataset.date || ''")


def arrow_to(page: Page, target: datetime.date) -> None:
    """Move the calendar's focus with the arrow keys from the focused day to *target*."""
    here = datetime.date.fromisoformat(focused_date(page))
    step = (target - here).days
    for _ in range(abs(step) // 7):
        page.keyboard.press("ArrowDown" if step > 0 else "ArrowUp")
    for _ in range(abs(step) % 7):
        page.keyboard.press("ArrowRight" if step > 0 else "ArrowLeft")
    assert focused_date(page) == target.isoformat()


def month_later(day: datetime.date) -> datetime.date:
    """The same day of the next month, or that month's last day when it is shorter."""
    first_next = (day.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)
    last = ((first_next + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)).day
    return first_next.replace(day=min(day.day, last))


def pick_stay_with_keys(page: Page, check_in: datetime.date, check_out: datetime.date) -> None:
    """Tab into the calendar (one tab stop: the first day not past), then pick both days with Enter."""
    page.keyboard.press("Tab")  # into the page from the address bar
    tab_to(page, "#availability td[data-date]")
    assert focused_date(page) == datetime.date.today().isoformat()
    grid = page.locator("#availability table.calendar").first
    expect(grid).to_have_attribute("role", "grid")
    arrow_to(page, check_in)
    page.keyboard.press("Enter")
    expect(page.locator("#calendar-status")).to_contain_text("请选择离开日期")
    arrow_to(page, check_out)
    page.keyboard.press("Enter")
    nights = (check_out - check_in).days
    expect(page.locator("#calendar-status")).to_contain_text(f"共 {nights} 晚")
    expect(page.locator("#sd")).to_have_value(check_in.isoformat())
    expect(page.locator("#ed")).to_have_value(check_out.isoformat())
    expect(page.locator(f"#availability td[data-date='{check_in.isoformat()}']")).to_have_attribute("aria-selected", "true")
    # The focused day says its date and whether it is free.
    label = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert re.fullmatch(rf"{check_out.month}月{check_out.day}日 星期[一二三四五六日] 可订", label), label
    # PageDown/PageUp: the same day a month on and back (moving focus only, picking nothing).
    ahead = month_later(check_out)
    page.keyboard.press("PageDown")
    assert focused_date(page) == ahead.isoformat()
    page.keyboard.press("PageUp")  # back to the same day (clamped if the later month was shorter)
    assert focused_date(page) == check_out.replace(day=ahead.day).isoformat()
    expect(page.locator("#ed")).to_have_value(check_out.isoformat())


def book_with_enter(page: Page) -> int:
    """Enter on the focused 预订 button: the order page; returns the order id."""
    with page.expect_navigation():
        page.keyboard.press("Enter")
    match = re.fullmatch(r"/orders/(\d+)", path_of(page))
    assert match, page.url
    expect(page.locator(".flash")).to_contain_text("预订已提交")
    return int(match.group(1))


def order_dates(db, order_id: int) -> tuple[datetime.date, datetime.date]:
    with db.cursor() as cur:
        cur.execute("SELECT check_in, check_out FROM orders WHERE id = %s", (order_id,))
        row = cur.fetchone()
    return row["check_in"], row["check_out"]


def test_book_with_the_keyboard_alone_on_a_desktop(page: Page, live_server, db):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    landlord = make_verified_user(db)
    guest = make_verified_user(db)
    house_id = make_house(db, landlord["id"], title="键盘预订小屋", min_days=1, max_days=0)
    login(page, live_server, guest["mobile"], PASSWORD, next_path=f"/houses/{house_id}")
    today = datetime.date.today()
    check_in, check_out = today + datetime.timedelta(days=9), today + datetime.timedelta(days=12)

    pick_stay_with_keys(page, check_in, check_out)
    expect(page.locator("#price-preview")).to_contain_text("× 3 晚")
    # The booking card sits before the calendar: back to its button with Shift+Tab.
    tab_to(page, "#book-btn", key="Shift+Tab")
    order_id = book_with_enter(page)
    assert order_dates(db, order_id) == (check_in, check_out)
    assert errors == []


def test_book_with_the_keyboard_alone_on_a_phone(browser, live_server, db):
    landlord = make_verified_user(db)
    guest = make_verified_user(db)
    house_id = make_house(db, landlord["id"], title="键盘预订（手机）", min_days=1, max_days=0,
                          price_fen=20000, deposit_fen=0)
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True)
    context.set_default_timeout(15_000)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        login(page, live_server, guest["mobile"], PASSWORD, next_path=f"/houses/{house_id}")
        today = datetime.date.today()
        # Arrow keys cross into the next month (which the phone then shows by itself).
        first_next = (today.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)
        check_in, check_out = first_next + datetime.timedelta(days=1), first_next + datetime.timedelta(days=3)

        pick_stay_with_keys(page, check_in, check_out)
        expect(page.locator(f".calendar-month[data-month='{first_next:%Y-%m}']")).to_be_visible()
        expect(page.locator(f".calendar-month[data-month='{today:%Y-%m}']")).to_be_hidden()
        expect(page.locator("#bar-total")).to_have_text("2 晚 · 应付 ¥400")
        # The sticky bar's 预订 opens the sheet; focus moves into it, Tab reaches the form's button.
        tab_to(page, "#book-bar-btn")
        page.keyboard.press("Enter")
        expect(page.locator("#booking-sheet")).to_have_class(re.compile(r"\bshow\b"))
        expect(page.locator("#booking-form")).to_be_visible()
        tab_to(page, "#book-btn")
        order_id = book_with_enter(page)
        assert order_dates(db, order_id) == (check_in, check_out)
        assert errors == []
    finally:
        context.close()
