"""A guest's journey on a phone (390×844): search with dates and guests → the listing, its booking
form pre-filled → 登录后预订 → back on the same listing with the same dates → book → the order
with its price breakdown (nights, deposit, total) and the free-cancellation deadline."""

from __future__ import annotations

import datetime
import re

from playwright.sync_api import expect

from tests.e2e.helpers import PASSWORD, make_house, make_verified_user, path_of, snapshot

PHONE = {"width": 390, "height": 844}


def test_search_to_booking_on_a_phone(browser, live_server, db):
    landlord = make_verified_user(db, name="房东小郑")
    guest = make_verified_user(db, name="背包客小林")
    house_id = make_house(db, landlord["id"], title="江景两居（旅程）", price_fen=28850, deposit_fen=50000,
                          capacity=3, min_days=1, max_days=0)
    today = datetime.date.today()
    sd, ed = (today + datetime.timedelta(days=3)).isoformat(), (today + datetime.timedelta(days=5)).isoformat()
    deadline = f"{(today + datetime.timedelta(days=2)).isoformat()} 14:00"

    context = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True)
    js_errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: js_errors.append(str(exc)))

        # Search with dates and guests (the filters fold away on a phone).
        page.goto(f"{live_server.url}/houses")
        page.locator("#filters-toggle").click()
        page.fill("#search-form #sd", sd)
        page.fill("#search-form #ed", ed)
        page.fill("#search-form #guests", "2")
        with page.expect_navigation():
            page.locator("#search-form [type=submit]").click()
        card = page.locator(f".house-card[data-house-id='{house_id}']")
        expect(card).to_contain_text("2 晚")
        snapshot(page, "journey-1-search")

        # The card leads to the listing with the stay: the booking form is pre-filled and the
        # breakdown is already there (rendered by the server).
        with page.expect_navigation():
            card.locator("a.stretched-link").click()
        assert page.url == f"{live_server.url}/houses/{house_id}?sd={sd}&ed={ed}&guests=2", page.url
        expect(page.locator("#booking-form #sd")).to_have_value(sd)
        expect(page.locator("#booking-form #ed")).to_have_value(ed)
        expect(page.locator("#booking-form #guests")).to_have_value("2")
        expect(page.locator("#cancel-deadline")).to_have_text(f"{deadline} 前可免费取消")

        # Log in from the booking card (a sheet on phones, opened by the bar's 预订): back on the same
        # listing with the same dates; the bar already shows the stay's total.
        expect(page.locator("#bar-total")).to_have_text("2 晚 · 应付 ¥1077")
        page.locator("#book-bar-btn").click()
        with page.expect_navigation():
            page.locator("#login-to-book").click()
        assert path_of(page).startswith("/login"), page.url
        page.fill("#mobile", guest["mobile"])
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.locator("#login-form [type=submit]").click()
        assert page.url == f"{live_server.url}/houses/{house_id}?sd={sd}&ed={ed}&guests=2", page.url
        expect(page.locator("#booking-form #sd")).to_have_value(sd)
        expect(page.locator("#booking-form #guests")).to_have_value("2")
        expect(page.locator("#price-preview .price-total")).to_have_text("¥1077")
        snapshot(page, "journey-2-listing-logged-in")

        # Book from the sheet, and see the breakdown on the order.
        page.locator("#book-bar-btn").click()
        with page.expect_navigation():
            page.locator("#book-btn").click()
        assert re.fullmatch(r"/orders/\d+", path_of(page)), page.url
        expect(page.locator(".flash")).to_contain_text("预订已提交：2 晚，共 ¥577，另付押金 ¥500")
        breakdown = page.locator("#order .price-breakdown")
        expect(breakdown.locator(".price-subtotal")).to_have_text("¥577")
        expect(breakdown.locator(".price-deposit")).to_have_text("¥500")
        expect(breakdown.locator(".price-total")).to_have_text("¥1077")
        expect(page.locator(".order-guests")).to_have_text("2 人")
        expect(page.locator(".order-cancel-policy")).to_contain_text(f"{deadline} 前可免费取消")
        snapshot(page, "journey-3-order")
        # Nothing on the page is wider than the phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        context.close()
    with db.cursor() as cur:
        cur.execute("SELECT guests, nights, amount_fen, deposit_fen, status FROM orders WHERE house_id = %s",
                    (house_id,))
        assert cur.fetchall() == [{"guests": 2, "nights": 2, "amount_fen": 57700, "deposit_fen": 50000,
                                   "status": "pending"}]
    assert js_errors == []
