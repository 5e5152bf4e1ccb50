"""Pages as a phone shows them, and the styled error page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import make_house, make_verified_user, snapshot

PHONE = {"width": 375, "height": 740}


@pytest.fixture
def phone(browser):
    """A page in a phone-sized, touch-enabled zh-CN context."""
    context = browser.new_context(locale="zh-CN", viewport=PHONE, device_scale_factor=2,
                                  is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def scroll_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_home_fits_a_phone(phone, live_server, db):
    # A listing with a long title and address, so the cards are on the page too.
    owner = make_verified_user(db)
    make_house(db, owner["id"], title="超长标题的房源" * 9, address="朝阳区" + "很长的地址" * 30)
    phone.goto(live_server.url + "/")
    expect(phone.locator("#latest .house-card")).not_to_have_count(0)
    assert scroll_width(phone) <= PHONE["width"] + 1

    # The menu folds behind the toggler, which opens it.
    toggler = phone.locator(".navbar-toggler")
    expect(toggler).to_be_visible()
    nav_link = phone.locator("#nav a[href='/houses']")
    expect(nav_link).to_be_hidden()
    toggler.click()
    expect(nav_link).to_be_visible()
    assert scroll_width(phone) <= PHONE["width"] + 1
    snapshot(phone, "home-phone")


def test_listing_page_fits_a_phone(phone, live_server, db):
    owner = make_verified_user(db)
    house_id = make_house(db, owner["id"], title="超长标题的房源" * 9, address="朝阳区" + "很长的地址" * 30,
                          facilities=tuple(range(1, 24)), description="很长的描述" * 200)
    phone.goto(f"{live_server.url}/houses/{house_id}")
    expect(phone.locator("#house")).to_have_attribute("data-house-id", str(house_id))
    assert scroll_width(phone) <= PHONE["width"] + 1
    snapshot(phone, "listing-phone")


@pytest.mark.parametrize("path", ["/houses", "/register", "/login", "/no-such-page"])
def test_other_pages_fit_a_phone(phone, live_server, path):
    phone.goto(live_server.url + path)
    expect(phone.locator(".navbar-toggler")).to_be_visible()
    assert scroll_width(phone) <= PHONE["width"] + 1


def test_unknown_page_is_the_styled_404(page, live_server):
    response = page.goto(live_server.url + "/no-such-page")
    assert response.status == 404
    expect(page.locator("main")).to_contain_text("404")
    home = page.locator("main a", has_text="回到首页")
    expect(home).to_have_attribute("href", "/")
    # Styled: the site's navbar and stylesheets, not Tornado's bare error text.
    expect(page.locator("nav.navbar")).to_be_visible()
    assert page.evaluate("document.styleSheets.length") >= 3
    assert home.evaluate("a => getComputedStyle(a).display") == "inline-block"  # Bootstrap's .btn


def test_unknown_listing_is_the_styled_404(page, live_server):
    response = page.goto(live_server.url + "/houses/999999999")
    assert response.status == 404
    expect(page.locator("main a", has_text="回到首页")).to_be_visible()
