"""A stay from booking to review, in a real browser with two people at once.

The guest picks dates on the listing page's calendar (live price preview) and
books → the order page, pending. The landlord, in a browser of their own, accepts
it in "my orders". Once the stay is over (moved into the past through the database),
the guest reviews it from "my orders". The review and the average rating show on the
listing, whose calendar shows the nights as booked.
"""

from __future__ import annotations

import datetime
import re

from playwright.sync_api import Page, expect

from tests.e2e.helpers import PASSWORD, login, make_house, make_verified_user, path_of, snapshot


def test_guest_books_landlord_accepts_guest_reviews(page: Page, browser, live_server, db):
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    landlord = make_verified_user(db, name="房东老王")
    guest = make_verified_user(db, name="旅行的小李")
    house_id = make_house(db, landlord["id"], title="湖景小屋", price_fen=28850, min_days=1, max_days=7)
    # From tomorrow: whatever the time of day, the stay has not begun (the host may still release
    # it) when it is accepted, and it is over (reviewable) once moved four days back.
    today = datetime.date.today()
    first_night = today + datetime.timedelta(days=1)
    check_in, check_out = first_night.isoformat(), (first_night + datetime.timedelta(days=2)).isoformat()

    # The guest logs in and lands back on the listing.
    login(page, live_server, guest["mobile"], PASSWORD, next_path=f"/houses/{house_id}")
    assert path_of(page) == f"/houses/{house_id}"
    expect(page.locator("#availability table.calendar")).to_have_count(3)

    # Dates picked on the calendar fill the form; the preview is nights × price in yuan, plus the deposit.
    page.locator(f"#availability td[data-date='{check_in}']").click()
    page.locator(f"#availability td[data-date='{check_out}']").click()
    expect(page.locator("#sd")).to_have_value(check_in)
    expect(page.locator("#ed")).to_have_value(check_out)
    expect(page.locator("#price-preview")).to_have_text("¥288.50 × 2 晚 = ¥577 + 押金 ¥500（退房后退还） · 应付 ¥1077")
    snapshot(page, "booking-1-listing")
    with page.expect_navigation():
        page.locator("#book-btn").click()
    match = re.fullmatch(r"/orders/(\d+)", path_of(page))
    assert match, page.url
    order_id = int(match.group(1))
    expect(page.locator(".flash")).to_contain_text("预订已提交：2 晚，共 ¥577")
    expect(page.locator("#order .order-status")).to_have_text("待确认")

    # The landlord, in a browser of their own, accepts it under "my orders".
    landlord_context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    try:
        landlord_page = landlord_context.new_page()
        landlord_page.on("pageerror", lambda exc: js_errors.append(str(exc)))
        login(landlord_page, live_server, landlord["mobile"], PASSWORD, next_path="/my/orders?role=landlord")
        row = landlord_page.locator(f".order-row[data-order-id='{order_id}']")
        expect(row.locator(".order-status")).to_have_text("待确认")
        expect(row).to_contain_text(f"{check_in} 至 {check_out}（2 晚，1 人）")
        snapshot(landlord_page, "booking-2-landlord-orders")
        with landlord_page.expect_navigation():
            row.locator(".action-accept button").click()
        assert path_of(landlord_page) == "/my/orders"
        expect(landlord_page.locator(".flash")).to_contain_text("已接单")
        expect(row.locator(".order-status")).to_have_text("已接单")
        # Accepted: nothing left to accept or reject; until check-in the host may still release it.
        expect(row.locator(".action-accept, .action-reject")).to_have_count(0)
        expect(row.locator(".action-release")).to_have_count(1)
    finally:
        landlord_context.close()

    # Reviews open at check-out: the stay is moved into the past (its booked nights stay where
    # they were, so the calendar below still shows them), then the guest reviews it from "my orders".
    with db.cursor() as cur:
        cur.execute("UPDATE orders SET check_in = check_in - INTERVAL 4 DAY, check_out = check_out - INTERVAL 4 DAY "
                    "WHERE id = %s", (order_id,))
    page.goto(f"{live_server.url}/my/orders?role=guest")
    row = page.locator(f".order-row[data-order-id='{order_id}']")
    expect(row.locator(".order-status")).to_have_text("已完成")
    row.locator(".action-review").click()
    page.wait_for_url(re.compile(rf"/orders/{order_id}#review$"))
    page.locator("label[for=rating5]").click()
    page.fill("#comment", "湖景很美，房东老王很热情，下次还来！")
    snapshot(page, "booking-3-review-form")
    with page.expect_navigation():
        page.locator("#review-submit").click()
    expect(page.locator(".flash")).to_contain_text("感谢你的评价")
    expect(page.locator("#order .order-status")).to_have_text("已完成")

    # The review and the average rating show on the listing; the nights are booked.
    page.goto(f"{live_server.url}/houses/{house_id}")
    expect(page.locator("#reviews .review")).to_have_count(1)
    expect(page.locator("#reviews .review-comment")).to_have_text("湖景很美，房东老王很热情，下次还来！")
    expect(page.locator("#reviews .review-author")).to_have_text("旅行的小李")
    expect(page.locator("#rating-average")).to_have_text("5.0")
    for night in (first_night, first_night + datetime.timedelta(days=1)):
        expect(page.locator(f"#availability td[data-date='{night.isoformat()}']")).to_have_class("booked")
    snapshot(page, "booking-4-listing-with-review")

    with db.cursor() as cur:
        cur.execute("SELECT status, nights, amount_fen FROM orders WHERE id = %s", (order_id,))
        assert cur.fetchone() == {"status": "completed", "nights": 2, "amount_fen": 57700}
        cur.execute("SELECT order_count FROM houses WHERE id = %s", (house_id,))
        assert cur.fetchone()["order_count"] == 1
    assert js_errors == []
