"""收藏 in a real browser: a visitor's heart on a home-page card leads to the login page and on to
the listing; the member's heart there toggles in place (no page load) with the count, the cached
home page then shows the card's heart pressed, and 我的收藏 lists the listing. Chromium enforces
the Content-Security-Policy."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.helpers import PASSWORD, make_house, make_verified_user, path_of, snapshot


def test_save_from_a_card_then_see_it_everywhere(page: Page, live_server, db):
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    page.on("console", lambda msg: js_errors.append(msg.text) if msg.type == "error" else None)
    host = make_verified_user(db, name="收藏房东")
    member = make_verified_user(db, name="爱收藏的人")
    house_id = make_house(db, host["id"], title="值得收藏的房子")

    page.goto(f"{live_server.url}/")
    heart = page.locator(f'form.fav-card[data-fav-house="{house_id}"] button')
    expect(heart).to_have_attribute("aria-pressed", "false")
    with page.expect_navigation():
        heart.click()
    assert path_of(page) == "/login"
    page.fill("#mobile", member["mobile"])
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.locator("#login-form [type=submit]").click()
    assert path_of(page) == f"/houses/{house_id}"  # the listing whose heart it was
    expect(page.locator("#user-menu")).to_have_count(1)

    listing_heart = page.locator("#listing-actions .fav-btn")
    expect(listing_heart).to_have_attribute("aria-pressed", "false")
    url = page.url
    listing_heart.click()
    expect(listing_heart).to_have_attribute("aria-pressed", "true")
    expect(listing_heart.locator(".fav-label")).to_have_text("取消收藏")
    expect(page.locator(f'[data-fav-count="{house_id}"]')).to_have_text("1")
    assert page.url == url  # toggled in place
    page.locator("#share summary").click()
    expect(page.locator("#share-url")).to_have_value(f"{live_server.url}/houses/{house_id}")
    expect(page.locator("#share-copy")).to_be_visible()
    qr = page.locator("#share .share-qr")
    expect(qr).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())  # the SVG loaded
    snapshot(page, "favourites-1-listing-saved-share-open")

    # The home page is the cached, shared one: the script marks the member's saved card.
    page.goto(f"{live_server.url}/")
    heart = page.locator(f'form.fav-card[data-fav-house="{house_id}"] button')
    expect(heart).to_have_attribute("aria-pressed", "true")

    page.goto(f"{live_server.url}/my/favourites")
    expect(page.locator("#favourites")).to_contain_text("值得收藏的房子")
    snapshot(page, "favourites-2-my-favourites")
    page.goto(f"{live_server.url}/users/{host['id']}")
    expect(page.locator("#host-name")).to_have_text("收藏房东")
    snapshot(page, "favourites-3-host-page")
    assert js_errors == []
