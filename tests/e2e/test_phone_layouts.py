"""The listing and search pages on a phone (390 × 844): results before filters, the 筛选 and booking
sheets, removable filter chips, one calendar month at a time, no sideways scrolling, and tap
targets of at least 44 × 44 CSS px."""

from __future__ import annotations

import datetime
import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import PASSWORD, login, make_house, make_verified_user, path_of

PHONE = {"width": 390, "height": 844}
TAP = 44  # CSS px, WCAG 2.5.5's size for a touch target
LONG_URL = "https://example.com/" + "a-very-long-path-segment-without-any-break" * 6


@pytest.fixture
def phone(browser):
    """A page in a phone-sized, touch context; collects script errors in ``phone.errors``."""
    context = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.errors = []
    tab.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    yield tab
    context.close()


def overflow(page: Page) -> int:
    """How many CSS px the page is wider than the viewport (0 when it never scrolls sideways)."""
    return page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")


def small_targets(page: Page, selector: str) -> list[str]:
    """The visible elements of *selector* smaller than TAP × TAP, as "text: w×h"."""
    found = []
    for box in page.locator(selector).all():
        if not box.is_visible():
            continue
        size = box.bounding_box()
        if size["width"] < TAP - 0.5 or size["height"] < TAP - 0.5:
            found.append(f"{box.inner_text().strip()!r}: {size['width']:.0f}×{size['height']:.0f}")
    return found


def test_search_on_a_phone(phone: Page, live_server, db):
    owner = make_verified_user(db)
    # 13 listings at a price nobody else uses (between other tests' cheapest and dearest, which
    # tests/e2e/test_search_sort.py relies on): two pages of results for this search alone.
    ids = [make_house(db, owner["id"], title=f"手机搜索房源{i}", price_fen=43210, capacity=4, facilities=(1, 3))
           for i in range(13)]
    url = f"{live_server.url}/houses?area_id=110105&guests=2&price_min=432.10&price_max=432.10&facility=1"
    phone.goto(url)
    expect(phone.locator("#results .house-card")).to_have_count(12)
    # Results come before the filters in the document; the filters wait in a closed sheet.
    assert phone.evaluate("""() => !!(document.querySelector('#results').compareDocumentPosition(
        document.querySelector('#search-form')) & Node.DOCUMENT_POSITION_FOLLOWING)""")
    expect(phone.locator("#search-form")).to_be_hidden()
    # Every active filter is a chip; the 筛选 button counts them.
    with db.cursor() as cur:
        cur.execute("SELECT (SELECT name FROM areas WHERE id = 110105) AS area, "
                    "(SELECT name FROM facilities WHERE id = 1) AS facility")
        names = cur.fetchone()
    chips = phone.locator("#filter-chips .chip-label")
    expect(chips).to_have_text([names["area"], "2 人", "¥432.10 起", "¥432.10 以内", names["facility"]])
    expect(phone.locator("#filter-count")).to_have_text("5")
    assert overflow(phone) <= 0
    assert small_targets(phone, "#filter-chips a, #pager .page-link, .search-page .btn:not(.btn-close)") == []

    # The 筛选 button opens the sheet with the form; its close button shuts it.
    phone.locator("#filters-toggle").click()
    expect(phone.locator("#search-filters")).to_have_class(re.compile(r"\bshow\b"))
    # Open, the sheet is a modal dialog named by its title; closed, it takes no name.
    expect(phone.get_by_role("dialog", name="筛选")).to_be_visible()
    expect(phone.locator("#search-form")).to_be_visible()
    expect(phone.locator("#search-form #guests")).to_have_value("2")
    assert overflow(phone) <= 0
    assert small_targets(phone, "#search-form .btn, #search-form .form-control, #search-form .form-select") == []
    phone.locator("#search-filters .btn-close").click()
    expect(phone.locator("#search-form")).to_be_hidden()
    expect(phone.locator("#search-filters")).not_to_have_attribute("aria-labelledby", re.compile(".*"))

    # A chip drops its filter (and only it), back on page 1; the count follows.
    with phone.expect_navigation():
        phone.locator("#filter-chips a.filter-chip", has_text="2 人").click()
    assert phone.url == f"{live_server.url}/houses?area_id=110105&price_min=432.10&price_max=432.10&facility=1", phone.url
    expect(phone.locator("#filter-count")).to_have_text("4")
    expect(phone.locator("#filter-chips a.filter-chip", has_text="2 人")).to_have_count(0)
    expect(phone.locator("#result-total")).to_have_text("13")

    # Page 2 through the pager (targets big enough), then dropping the price keeps the other filters.
    with phone.expect_navigation():
        phone.locator("#pager a[rel=next]").click()
    expect(phone.locator("#results .house-card")).to_have_count(1)
    assert small_targets(phone, "#pager .page-link") == []
    with phone.expect_navigation():
        phone.locator("#filter-chips a.filter-chip", has_text="¥432.10 以内").click()
    assert "price_max" not in phone.url and "page=" not in phone.url and "facility=1" in phone.url
    assert phone.errors == []
    assert ids


def test_listing_on_a_phone(phone: Page, live_server, db):
    landlord = make_verified_user(db)
    guest = make_verified_user(db)
    house_id = make_house(db, landlord["id"], title="手机上的长标题" * 6, min_days=1, max_days=0,
                          description=f"第一行\n第二行，详见 {LONG_URL}\n" + "很长的描述" * 80)
    login(phone, live_server, guest["mobile"], PASSWORD, next_path=f"/houses/{house_id}")
    assert path_of(phone) == f"/houses/{house_id}"
    # The booking card comes before the calendar and the reviews in reading order.
    assert phone.evaluate("""() => {
        const card = document.querySelector('#booking-card');
        return ['#availability', '#reviews'].every(s => card.compareDocumentPosition(
            document.querySelector(s)) & Node.DOCUMENT_POSITION_FOLLOWING);
    }""")
    # The description keeps its line breaks; the long URL wraps instead of widening the page.
    assert phone.locator(".description").evaluate("e => getComputedStyle(e).whiteSpace") == "pre-line"
    assert overflow(phone) <= 0

    # One month at a time, with 上个月/下个月.
    months = phone.locator("#availability .calendar-month")
    expect(months).to_have_count(3)
    expect(months.nth(0)).to_be_visible()
    expect(months.nth(1)).to_be_hidden()
    expect(phone.locator("[data-calendar-step='-1']")).to_be_disabled()
    phone.locator("[data-calendar-step='1']").click()
    expect(months.nth(1)).to_be_visible()
    expect(months.nth(0)).to_be_hidden()
    phone.locator("[data-calendar-step='-1']").click()
    expect(months.nth(0)).to_be_visible()
    assert small_targets(phone, "#availability .calendar-pager .btn, #book-bar-btn") == []

    # Picking a stay on the calendar puts its total in the bar; 预订 opens the sheet with the form.
    today = datetime.date.today()
    sd, ed = (today + datetime.timedelta(days=1)), (today + datetime.timedelta(days=3))
    shown = 0  # the month on screen, counted from this one
    for day in (sd, ed):
        while (day.year - today.year) * 12 + day.month - today.month > shown:
            phone.locator("[data-calendar-step='1']").click()
            shown += 1
        phone.locator(f"#availability td[data-date='{day.isoformat()}']").click()
    expect(phone.locator("#bar-total")).to_have_text("2 晚 · 应付 ¥1076")
    expect(phone.locator("#booking-form")).to_be_hidden()
    phone.locator("#book-bar-btn").click()
    expect(phone.locator("#booking-sheet")).to_have_class(re.compile(r"\bshow\b"))
    expect(phone.get_by_role("dialog", name="预订")).to_be_visible()
    expect(phone.locator("#booking-form #sd")).to_have_value(sd.isoformat())
    expect(phone.locator("#book-btn")).to_be_visible()
    assert overflow(phone) <= 0
    assert small_targets(phone, "#booking-sheet .btn:not(.btn-close), #booking-sheet .form-control") == []
    phone.locator("#booking-sheet .btn-close").click()
    expect(phone.locator("#booking-form")).to_be_hidden()
    assert small_targets(phone, "#house .btn:not(.btn-close)") == []
    assert phone.errors == []


def add_photos(db, house_id: int, count: int) -> None:
    """Photo rows (3:2, files not needed: the frame's shape comes from its box, not the picture)."""
    with db.cursor() as cur:
        cur.executemany("INSERT INTO house_images (house_id, storage_key, width, height, position) "
                        "VALUES (%s, %s, 1200, 800, %s)",
                        [(house_id, f"{house_id:08d}{i:024x}", i) for i in range(count)])


@pytest.mark.parametrize("motion", ["no-preference", "reduce"])
def test_gallery_keeps_3x2_and_turns_only_on_request(browser, live_server, db, motion):
    owner = make_verified_user(db)
    house_id = make_house(db, owner["id"], title=f"相册 {motion}")
    add_photos(db, house_id, 3)
    context = browser.new_context(locale="zh-CN", viewport=PHONE, reduced_motion=motion)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/houses/{house_id}")
        frame = page.locator("#gallery .carousel-item.active .gallery-frame").bounding_box()
        assert abs(frame["width"] / frame["height"] - 1.5) < 0.01, frame
        toggle = page.locator("#gallery-play")
        if motion == "reduce":
            expect(toggle).to_be_hidden()  # no slideshow at all for people who asked for less motion
        else:
            expect(toggle).to_be_visible()
            expect(toggle).to_have_attribute("aria-pressed", "false")
            assert small_targets(page, "#gallery-play") == []
            toggle.click()
            expect(toggle).to_have_attribute("aria-pressed", "true")
            toggle.click()
            expect(toggle).to_have_attribute("aria-pressed", "false")
        expect(page.locator("#gallery .carousel-item.active")).to_have_attribute("aria-label", "第 1 张，共 3 张")
    finally:
        context.close()


def test_refused_booking_on_a_desktop_scrolls_to_the_focused_summary(page: Page, live_server, db):
    landlord = make_verified_user(db)
    guest = make_verified_user(db)
    house_id = make_house(db, landlord["id"], title="至少三晚（桌面）", min_days=3, max_days=0,
                          description="很长的描述\n" * 80)
    today = datetime.date.today()
    login(page, live_server, guest["mobile"], PASSWORD, next_path=f"/houses/{house_id}")
    page.fill("#booking-form #sd", (today + datetime.timedelta(days=1)).isoformat())
    page.fill("#booking-form #ed", (today + datetime.timedelta(days=2)).isoformat())
    with page.expect_navigation():
        page.locator("#book-btn").click()
    summary = page.locator("#booking-error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_be_in_viewport()
    expect(page.locator("#book-bar")).to_be_hidden()  # the phone bar is not shown on a desktop


def test_refused_booking_opens_the_sheet_at_the_message(phone: Page, live_server, db):
    landlord = make_verified_user(db)
    guest = make_verified_user(db)
    house_id = make_house(db, landlord["id"], title="至少三晚", min_days=3, max_days=0)
    today = datetime.date.today()
    login(phone, live_server, guest["mobile"], PASSWORD, next_path=f"/houses/{house_id}")
    phone.locator("#book-bar-btn").click()
    phone.fill("#booking-form #sd", (today + datetime.timedelta(days=1)).isoformat())
    phone.fill("#booking-form #ed", (today + datetime.timedelta(days=2)).isoformat())
    with phone.expect_navigation():
        phone.locator("#book-btn").click()
    assert path_of(phone) == f"/houses/{house_id}/book"
    # The sheet is open by itself and the error summary has the focus; the field points at its message.
    summary = phone.locator("#booking-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("3 晚")
    expect(phone.locator("#price-preview")).to_have_text("")  # the message is not repeated below the form
    described = phone.locator("#booking-form [aria-invalid=true]").first.get_attribute("aria-describedby")
    assert described and phone.locator(f"#{described.split()[0]}").count() == 1
    assert overflow(phone) <= 0
    assert phone.errors == []


def test_without_javascript_the_sheets_open_by_their_links(browser, live_server, db):
    owner = make_verified_user(db)
    house_id = make_house(db, owner["id"], title="没有脚本也能订")
    context = browser.new_context(locale="zh-CN", viewport=PHONE, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/houses/{house_id}")
        expect(page.locator("#booking-form")).to_be_hidden()
        page.locator("#book-bar-btn").click()  # a plain link to #booking-sheet: CSS shows its target
        expect(page.locator("#booking-form #sd")).to_be_visible()
        expect(page.locator("#availability .calendar-month")).to_have_count(3)  # not paged: all months show
        for month in page.locator("#availability .calendar-month").all():
            expect(month).to_be_visible()
        page.goto(f"{live_server.url}/houses?guests=2")
        page.locator("#filters-toggle").click()
        expect(page.locator("#search-form #guests")).to_be_visible()
        assert overflow(page) <= 0
    finally:
        context.close()


def test_desktop_booking_card_stays_beside_the_content(page: Page, live_server, db):
    owner = make_verified_user(db)
    house_id = make_house(db, owner["id"], title="桌面布局", description="很长的描述\n" * 120)
    page.goto(f"{live_server.url}/houses/{house_id}")
    card, main = page.locator("#booking-card"), page.locator(".listing-main")
    assert card.bounding_box()["x"] > main.bounding_box()["x"] + main.bounding_box()["width"] - 1
    expect(page.locator("#book-bar")).to_be_hidden()
    page.locator("#reviews").scroll_into_view_if_needed()
    box = card.bounding_box()
    assert 0 <= box["y"] <= 40, box  # sticky near the top while the reviews scroll by
