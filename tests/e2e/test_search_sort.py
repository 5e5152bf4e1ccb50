"""The search page in Chromium: choosing a sort reloads the results at once (static/js/search.js,
allowed by the Content-Security-Policy), keeping the other filters; cards carry the stay."""

from __future__ import annotations

import datetime
import re

from playwright.sync_api import Page, expect

from tests.e2e.helpers import make_house, make_verified_user

AREA = 440305  # 深圳市南山区


def test_the_sort_applies_on_change_and_cards_carry_the_stay(page: Page, live_server, db):
    owner = make_verified_user(db)
    # In a district no other browser test lists in (they share one server and database), so the
    # cheapest and dearest of this search are these two whatever else exists.
    cheap = make_house(db, owner["id"], title="便宜的房", price_fen=10000, capacity=4, area_id=AREA)
    dear = make_house(db, owner["id"], title="贵的房", price_fen=90000, capacity=4, area_id=AREA)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    sd = (datetime.date.today() + datetime.timedelta(days=5)).isoformat()
    ed = (datetime.date.today() + datetime.timedelta(days=8)).isoformat()
    page.goto(f"{live_server.url}/houses?area_id={AREA}&sd={sd}&ed={ed}&guests=2&sort=price-inc")
    cards = page.locator("#results .house-card")
    expect(cards.first).to_have_attribute("data-house-id", str(cheap))
    with page.expect_navigation():
        page.select_option("#sort", "price-des")  # no click on 搜索: the change submits the form
    assert re.search(r"[?&]sort=price-des(&|$)", page.url)
    assert f"sd={sd}" in page.url and "guests=2" in page.url and f"area_id={AREA}" in page.url
    expect(cards.first).to_have_attribute("data-house-id", str(dear))
    expect(cards.first.locator(".stay-total")).to_have_text("3 晚 共 ¥2,700")
    link = cards.first.locator("a.stretched-link")
    expect(link).to_have_attribute("href", f"/houses/{dear}?sd={sd}&ed={ed}&guests=2")
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
