"""The listing page's server-rendered parts for phones and keyboards: the booking sheet before the
calendar and reviews, the phone bar's stay total, accessible day names, the refused booking's
anchor and error summary, the gallery's 3:2 frames and pause toggle."""

from __future__ import annotations

import datetime
import html
import re

import pytest

from handlers.display import calendar_months, day_label
from tests.utils.client import text
from tests.utils.dates import iso, today


@pytest.fixture
def party(app, login, new_client):
    from tests.utils.booking import make_party
    return lambda **house_overrides: make_party(app, login, new_client, **house_overrides)


def test_day_label_names_the_date_and_weekday():
    assert day_label(datetime.date(2026, 11, 25)) == "11月25日 星期三"
    assert day_label(datetime.date(2026, 11, 29)) == "11月29日 星期日"


def test_calendar_days_carry_their_labels():
    first = datetime.date(2026, 11, 1)
    months = calendar_months(first, 1, {datetime.date(2026, 11, 25)}, datetime.date(2026, 11, 20))
    days = {d["date"]: d for week in months[0]["weeks"] for d in week if d}
    assert days["2026-11-25"] == {"day": 25, "date": "2026-11-25", "state": "booked", "label": "11月25日 星期三"}
    assert days["2026-11-19"]["state"] == "past" and days["2026-11-19"]["label"] == "11月19日 星期四"
    assert days["2026-11-26"]["state"] == "free"


def cell(body: str, date: str) -> str:
    match = re.search(rf'<td [^>]*data-date="{date}"[^>]*>', body)
    assert match, date
    return match.group(0)


@pytest.mark.gen_test
async def test_calendar_days_have_accessible_names(app, party):
    p = await party(min_days=1, max_days=0)
    await p.order(1, 2)
    body = text(await p.anon.get(f"/houses/{p.house['id']}"))
    for offset, state in ((0, "可订"), (1, "已订满"), (2, "可订")):
        date = datetime.date.fromisoformat(iso(offset))
        assert f'aria-label="{day_label(date)} {state}"' in cell(body, iso(offset))
    if today().day > 1:
        assert f'aria-label="{day_label(today() - datetime.timedelta(days=1))} 已过"' in cell(body, iso(-1))
    # One month per page on phones: the first is current; the buttons are there for calendar.js.
    assert body.count('class="col-12 col-md-4 calendar-month current"') == 1
    assert 'data-calendar-step="-1"' in body and 'data-calendar-step="1"' in body and "js/calendar.js" in body


@pytest.mark.gen_test
async def test_booking_sheet_comes_before_calendar_and_reviews(app, party):
    p = await party()
    body = text(await p.gc.get(f"/houses/{p.house['id']}"))
    positions = [body.index(marker) for marker in
                 ('id="booking-sheet"', 'id="booking-form"', 'id="availability"', 'id="reviews"', 'id="book-bar"')]
    assert positions == sorted(positions)
    assert 'class="offcanvas-md offcanvas-bottom booking-sheet"' in body
    assert re.search(r'<a class="btn btn-brand" id="book-bar-btn" href="#booking-sheet" role="button" '
                     r'data-bs-toggle="offcanvas" data-bs-target="#booking-sheet"', body)
    assert '<div class="small bar-total" id="bar-total"></div>' in body  # no dates, no total


@pytest.mark.gen_test
async def test_phone_bar_shows_the_stay_total_for_dates_in_the_link(app, party):
    p = await party(price_fen=30000, deposit_fen=50000, min_days=1, max_days=0)
    body = text(await p.anon.get(f"/houses/{p.house['id']}?sd={iso(3)}&ed={iso(5)}"))
    assert '<div class="small bar-total" id="bar-total">2 晚 · 应付 ¥1100</div>' in body


@pytest.mark.gen_test
async def test_refused_booking_comes_back_at_the_form_with_a_summary(app, party):
    p = await party(min_days=3, max_days=0)
    page = await p.book(1, 2)
    body = text(page)
    assert page.code == 400
    # The form posts back to the sheet's anchor, so the answer opens at the form.
    assert f'action="/houses/{p.house["id"]}/book#booking" id="booking-form" novalidate data-own-focus' in body
    summary = re.search(r'<div class="alert alert-danger error-summary" id="booking-error-summary" role="alert" '
                        r'tabindex="-1" data-error-summary>(.*?)</div>', body, re.S)
    assert summary, body[body.index('id="booking"'):][:2000]
    assert "请修改以下 1 处" in summary.group(1)
    assert ('<a class="alert-link fw-normal" href="#sd" data-focus="sd">该房源最少预订 3 晚，你选了 1 晚</a>'
            in html.unescape(summary.group(1)))
    for field in ("sd", "ed"):
        tag = re.search(rf'<input [^>]*id="{field}"[^>]*>', body).group(0)
        assert 'aria-invalid="true"' in tag and 'aria-describedby="dates-error"' in tag
    guests = re.search(r'<input [^>]*id="guests"[^>]*>', body).group(0)
    assert "aria-invalid" not in guests and "aria-describedby" not in guests


@pytest.mark.gen_test
async def test_fresh_form_has_no_summary_and_no_invalid_fields(app, party):
    p = await party()
    body = text(await p.gc.get(f"/houses/{p.house['id']}"))
    assert 'id="booking-error-summary"' not in body and 'aria-invalid' not in body.split('id="booking"')[1]


@pytest.mark.gen_test
async def test_gallery_frames_are_3x2_with_a_pause_toggle(app, party):
    p = await party()
    for position in (1, 2):
        await app.db.execute("INSERT INTO house_images (house_id, storage_key, width, height, position) "
                             "VALUES (%s, %s, 1200, 800, %s)", p.house["id"], f"{position:032x}", position)
    body = text(await p.anon.get(f"/houses/{p.house['id']}"))
    assert body.count('class="ratio ratio-3x2 gallery-frame"') == 2
    assert 'data-bs-ride' not in body  # nothing turns by itself
    toggle = re.search(r'<button [^>]*id="gallery-play"[^>]*>', body).group(0)
    assert 'aria-pressed="false"' in toggle and "hidden" in toggle
    assert '<span class="visually-hidden">自动播放</span>' in body
