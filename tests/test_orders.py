"""Bookings and orders: every booking rule, every status transition (allowed and
refused), the authorisation of every order route, the listing page's booking parts,
reviews and the availability API."""

from __future__ import annotations

import datetime
import re

import pytest

from models import profile as profile_model
from tests.utils.client import json_body, text
from tests.utils.booking import make_party
from tests.utils.dates import day, iso, today
from tests.utils.factories import house_form, make_user
from tests.utils.pages import field_error, order_id_of

@pytest.fixture
def party(app, login, new_client):
    """``await party(**house overrides)``: a landlord with a listing and a guest, each logged
    in with their own browser, plus a logged-in stranger (tests/utils/booking.py)."""
    return lambda **house_overrides: make_party(app, login, new_client, **house_overrides)


async def order_row(app, order_id: int) -> dict:
    return await app.db.queryone("SELECT * FROM orders WHERE id = %s", order_id)


async def nights_of(app, house_id: int) -> list[tuple[datetime.date, int]]:
    rows = await app.db.query("SELECT night, order_id FROM booked_nights WHERE house_id = %s ORDER BY night",
                              house_id)
    return [(r["night"], r["order_id"]) for r in rows]


async def set_status(app, order_id: int, status: str) -> None:
    """Put an order straight into *status*, keeping booked_nights consistent with it."""
    await app.db.execute("UPDATE orders SET status = %s WHERE id = %s", status, order_id)
    if status in ("rejected", "cancelled", "expired"):
        await app.db.execute("DELETE FROM booked_nights WHERE order_id = %s", order_id)


async def stay_over(app, order_id: int) -> None:
    """Move an order's stay into the past (check-in 3 days ago, check-out yesterday): the
    calendar completes an accepted stay and opens its review window."""
    await app.db.execute("UPDATE orders SET check_in = %s, check_out = %s WHERE id = %s", day(-3), day(-1), order_id)


# --------------------------------------------------------------------------- booking


@pytest.mark.gen_test
async def test_book_creates_pending_order_with_price_snapshot_and_nights(app, party):
    p = await party(price_fen=28850)
    response = await p.book(1, 4)
    order_id = order_id_of(response)
    order = await order_row(app, order_id)
    assert (order["guest_id"], order["house_id"], order["status"]) == (p.guest["id"], p.house["id"], "pending")
    assert (order["check_in"], order["check_out"], order["nights"]) == (day(1), day(4), 3)
    assert (order["price_fen"], order["amount_fen"]) == (28850, 3 * 28850)
    assert await nights_of(app, p.house["id"]) == [(day(1), order_id), (day(2), order_id), (day(3), order_id)]
    page = await p.gc.get(f"/orders/{order_id}")
    body = text(page)
    assert page.code == 200
    assert "预订已提交：3 晚，共 ¥865.50" in body
    assert "¥288.50 × 3 晚" in body and 'class="col-5 text-end mb-1 price-subtotal">¥865.50<' in body
    assert 'data-status="pending"' in body and "待确认" in body

    # The snapshot does not follow later price changes.
    await app.db.execute("UPDATE houses SET price_fen = 99900 WHERE id = %s", p.house["id"])
    assert (await order_row(app, order_id))["amount_fen"] == 3 * 28850


@pytest.mark.gen_test
async def test_book_today_is_allowed(app, party):
    p = await party()
    order = await order_row(app, order_id_of(await p.book(0, 1)))
    assert order["check_in"] == today() and order["nights"] == 1
    assert await nights_of(app, p.house["id"]) == [(today(), order["id"])]


@pytest.mark.gen_test
async def test_book_requires_login(app, party):
    p = await party()
    response = await p.book(1, 3, client=p.anon)
    assert response.code == 403 and "请先登录再预订" in text(response)
    assert await app.db.scalar("SELECT COUNT(*) FROM orders") == 0


@pytest.mark.gen_test
async def test_book_requires_xsrf(app, party):
    p = await party()
    response = await p.gc.post(f"/houses/{p.house['id']}/book", {"sd": iso(1), "ed": iso(2)}, xsrf=False)
    assert response.code == 403
    assert await app.db.scalar("SELECT COUNT(*) FROM orders") == 0


@pytest.mark.gen_test
@pytest.mark.parametrize("status", ["pending", "offline", "rejected"])
async def test_book_refuses_listing_not_online(app, party, status):
    p = await party(status=status)
    response = await p.book(1, 3)
    assert response.code == 409 and "未上线" in text(response)
    assert await app.db.scalar("SELECT COUNT(*) FROM orders") == 0


@pytest.mark.gen_test
async def test_book_refuses_listing_of_disabled_landlord(app, party):
    p = await party()
    await app.db.execute("UPDATE users SET is_active = 0 WHERE id = %s", p.landlord["id"])
    response = await p.book(1, 3)
    assert response.code == 409 and "未上线" in text(response)


@pytest.mark.gen_test
@pytest.mark.parametrize("which", ["unknown", "deleted"])
async def test_book_unknown_or_deleted_listing_is_404(app, party, which):
    p = await party(status="deleted" if which == "deleted" else "online")
    house_id = p.house["id"] + (1000 if which == "unknown" else 0)
    response = await p.gc.post(f"/houses/{house_id}/book", {"sd": iso(1), "ed": iso(2)})
    assert response.code == 404


@pytest.mark.gen_test
async def test_book_refuses_own_listing(app, party):
    p = await party()
    response = await p.book(1, 3, client=p.lc)
    assert response.code == 403 and "不能预订自己的房源" in text(response)
    assert await app.db.scalar("SELECT COUNT(*) FROM orders") == 0


@pytest.mark.gen_test
@pytest.mark.parametrize("sd,ed,field,message", [
    (-1, 2, "sd", "入住日期不能早于今天"),
    (3, 3, "ed", "离开日期须晚于入住日期"),
    (4, 2, "ed", "离开日期须晚于入住日期"),
    (1, 1 + 366, "ed", "一次最多预订 365 晚"),
])
async def test_book_date_rules(app, party, sd, ed, field, message):
    p = await party()
    response = await p.book(sd, ed)
    body = text(response)
    assert response.code == 400
    assert field_error(body, field) == message
    # The listing page again, the booking form keeping what was typed.
    assert f'id="sd" name="sd" min="{today().isoformat()}" value="{iso(sd)}"' in body
    assert await app.db.scalar("SELECT COUNT(*) FROM orders") == 0


@pytest.mark.gen_test
@pytest.mark.parametrize("form,field,message", [
    ({}, "sd", "请选择入住日期"),
    ({"sd": "2030-01-01"}, "ed", "请选择离开日期"),
    ({"sd": "tomorrow", "ed": "2030-01-02"}, "sd", "日期格式应为 YYYY-MM-DD"),
    ({"sd": "2030-01-01", "ed": "2030-02-30"}, "ed", "日期格式应为 YYYY-MM-DD"),
])
async def test_book_missing_or_malformed_dates(app, party, form, field, message):
    p = await party()
    response = await p.gc.post(f"/houses/{p.house['id']}/book", form)
    assert response.code == 400
    assert field_error(text(response), field) == message


@pytest.mark.gen_test
async def test_book_min_and_max_days(app, party):
    p = await party(min_days=2, max_days=5)
    short = await p.book(1, 2)
    assert short.code == 400 and field_error(text(short), "dates") == "该房源最少预订 2 晚，你选了 1 晚"
    long = await p.book(1, 7)
    assert long.code == 400 and field_error(text(long), "dates") == "该房源最多预订 5 晚，你选了 6 晚"
    order_id_of(await p.book(1, 3))   # exactly the minimum
    order_id_of(await p.book(10, 15))  # exactly the maximum
    assert await app.db.scalar("SELECT COUNT(*) FROM orders") == 2


@pytest.mark.gen_test
async def test_book_max_days_zero_means_no_limit(app, party):
    p = await party(min_days=1, max_days=0)
    order_id = order_id_of(await p.book(1, 61))
    assert (await order_row(app, order_id))["nights"] == 60
    assert len(await nights_of(app, p.house["id"])) == 60


@pytest.mark.gen_test
async def test_book_overlap_is_409_and_half_open_ranges_touch(app, party, login, new_client):
    p = await party()
    first = order_id_of(await p.book(3, 6))
    other = new_client()
    await login(other, await make_user(app))
    for sd, ed in [(3, 6), (4, 5), (1, 4), (5, 8), (2, 7)]:
        response = await p.book(sd, ed, client=other)
        assert response.code == 409, (sd, ed)
        assert field_error(text(response), "dates") == "所选日期已被预订，请换个日期"
    # [1, 3) ends the day the first stay begins; [6, 8) begins the day it ends.
    before = order_id_of(await p.book(1, 3, client=other))
    after = order_id_of(await p.book(6, 8, client=other))
    assert await app.db.scalar("SELECT COUNT(*) FROM orders") == 3
    nights = await nights_of(app, p.house["id"])
    assert [n for n, _ in nights] == [day(i) for i in range(1, 8)]
    assert {o for _, o in nights} == {first, before, after}


@pytest.mark.gen_test
@pytest.mark.parametrize("status,code", [("accepted", 409), ("completed", 409), ("rejected", 302),
                                         ("cancelled", 302)])
async def test_book_overlap_counts_only_orders_that_hold_nights(app, party, login, new_client, status, code):
    p = await party()
    first = order_id_of(await p.book(1, 3))
    await set_status(app, first, status)
    other = new_client()
    await login(other, await make_user(app))
    assert (await p.book(1, 3, client=other)).code == code


@pytest.mark.gen_test
async def test_duplicate_night_is_the_backstop_and_becomes_409(app, party, login, new_client):
    """A stale booked night that no holding order explains (the overlap check passes):
    the primary key refuses the insert and the whole booking rolls back."""
    p = await party()
    first = order_id_of(await p.book(2, 4))
    await app.db.execute("UPDATE orders SET status = 'cancelled' WHERE id = %s", first)  # nights left behind
    other = new_client()
    await login(other, await make_user(app))
    response = await p.book(1, 3, client=other)
    assert response.code == 409
    assert field_error(text(response), "dates") == "所选日期已被预订，请换个日期"
    assert await app.db.scalar("SELECT COUNT(*) FROM orders") == 1
    assert await nights_of(app, p.house["id"]) == [(day(2), first), (day(3), first)]


# --------------------------------------------------------------------------- listing page


@pytest.mark.gen_test
async def test_listing_page_booking_form_calendar_and_login_prompt(app, party):
    p = await party(price_fen=30000, min_days=2, max_days=7)
    order_id_of(await p.book(1, 3))
    page = await p.sc.get(f"/houses/{p.house['id']}")
    body = text(page)
    assert page.code == 200
    # A refused booking comes back at the booking sheet (the form's fragment; see test_listing_phone.py).
    assert f'action="/houses/{p.house["id"]}/book#booking"' in body and 'name="_xsrf"' in body
    assert 'data-price-fen="30000" data-deposit-fen="50000" data-min-days="2" data-max-days="7"' in body
    assert "js/booking.js" in body
    # Three months of calendar, this month first, with the booked nights marked.
    months = re.findall(r'class="table table-sm calendar mb-0" data-month="(\d{4}-\d{2})"', body)
    first = today().replace(day=1)
    assert months[0] == first.strftime("%Y-%m") and len(months) == 3
    for offset in (1, 2):
        assert f'class="booked" data-date="{iso(offset)}"' in body
    assert f'class="free" data-date="{iso(3)}"' in body
    if today().day > 1:
        assert f'class="past" data-date="{iso(-1)}"' in body

    anonymous = text(await p.anon.get(f"/houses/{p.house['id']}"))
    assert f'href="/login?next=/houses/{p.house["id"]}">登录后预订' in anonymous
    own = text(await p.lc.get(f"/houses/{p.house['id']}"))
    assert "这是你自己的房源，不能预订" in own and 'id="booking-form"' not in own


# --------------------------------------------------------------------------- lifecycle


@pytest.mark.gen_test
async def test_accept_then_review_completes_and_counts_the_stay(app, party):
    p = await party()
    order_id = order_id_of(await p.book(0, 2))
    accepted = await p.lc.post(f"/orders/{order_id}/accept")
    assert accepted.code == 302 and accepted.headers["Location"] == f"/orders/{order_id}"
    assert (await order_row(app, order_id))["status"] == "accepted"
    assert "已接单" in text(await p.lc.get(f"/orders/{order_id}"))

    await stay_over(app, order_id)  # the calendar completes the stay; the review closes nothing
    reviewed = await p.gc.post(f"/orders/{order_id}/review", {"rating": "4", "comment": "干净，房东很热情"})
    assert reviewed.code == 302
    assert (await order_row(app, order_id))["status"] == "completed"
    review = await app.db.queryone("SELECT * FROM reviews WHERE order_id = %s", order_id)
    assert (review["rating"], review["comment"], review["author_id"], review["house_id"]) == (
        4, "干净，房东很热情", p.guest["id"], p.house["id"])
    assert await app.db.scalar("SELECT order_count FROM houses WHERE id = %s", p.house["id"]) == 1
    # A completed stay keeps its nights.
    assert len(await nights_of(app, p.house["id"])) == 2
    page = text(await p.gc.get(f"/orders/{order_id}"))
    assert "感谢你的评价" in page and "干净，房东很热情" in page and 'data-status="completed"' in page


@pytest.mark.gen_test
async def test_listing_shows_reviews_with_average(app, party, login, new_client):
    p = await party()
    for rating, comment in [(5, "完美的一晚"), (4, "交通方便")]:
        guest = new_client()
        await login(guest, await make_user(app, name=f"旅行者{rating}"))
        offset = 0 if rating == 5 else 1
        order_id = order_id_of(await p.book(offset, offset + 1, client=guest))
        assert (await p.lc.post(f"/orders/{order_id}/accept")).code == 302
        await stay_over(app, order_id)
        assert (await guest.post(f"/orders/{order_id}/review", {"rating": rating, "comment": comment})).code == 302
    body = text(await p.anon.get(f"/houses/{p.house['id']}"))
    assert '<span id="rating-average">4.5</span>' in body and '<span id="review-count">2</span>' in body
    assert "完美的一晚" in body and "交通方便" in body and "旅行者5" in body
    assert await app.db.scalar("SELECT order_count FROM houses WHERE id = %s", p.house["id"]) == 2


@pytest.mark.gen_test
async def test_review_author_named_by_mobile_is_masked(app, party):
    p = await party()
    # An account from before random default names: named after its mobile.
    await profile_model.set_name(app.db, p.guest["id"], p.guest["mobile"])
    order_id = order_id_of(await p.book(0, 1))
    await p.lc.post(f"/orders/{order_id}/accept")
    await stay_over(app, order_id)
    assert (await p.gc.post(f"/orders/{order_id}/review", {"rating": "5", "comment": "好"})).code == 302
    body = text(await p.anon.get(f"/houses/{p.house['id']}"))
    mobile = p.guest["mobile"]
    assert f"{mobile[:3]}****{mobile[7:]}" in body and mobile not in body


@pytest.mark.gen_test
async def test_reject_needs_reason_then_frees_nights_and_shows_reason(app, party):
    p = await party()
    order_id = order_id_of(await p.book(1, 3))
    missing = await p.lc.post(f"/orders/{order_id}/reject", {"reason": "  "})
    assert missing.code == 400 and field_error(text(missing), "reason") == "请填写拒绝原因，房客会看到它"
    too_long = await p.lc.post(f"/orders/{order_id}/reject", {"reason": "长" * 256})
    assert too_long.code == 400 and field_error(text(too_long), "reason") == "拒绝原因最多 255 个字"
    assert (await order_row(app, order_id))["status"] == "pending"

    done = await p.lc.post(f"/orders/{order_id}/reject", {"reason": "那几天要装修"})
    assert done.code == 302
    order = await order_row(app, order_id)
    assert (order["status"], order["reject_reason"]) == ("rejected", "那几天要装修")
    assert await nights_of(app, p.house["id"]) == []
    guest_view = text(await p.gc.get(f"/orders/{order_id}"))
    assert "那几天要装修" in guest_view and "已拒绝" in guest_view


@pytest.mark.gen_test
async def test_cancel_pending_frees_nights(app, party):
    p = await party()
    order_id = order_id_of(await p.book(1, 3))
    response = await p.gc.post(f"/orders/{order_id}/cancel")
    assert response.code == 302
    assert (await order_row(app, order_id))["status"] == "cancelled"
    assert await nights_of(app, p.house["id"]) == []
    order_id_of(await p.book(1, 3))  # the same nights can be booked again


@pytest.mark.gen_test
async def test_cancel_accepted_only_before_the_free_cancellation_deadline(app, party):
    # Deadline: 24 h before 14:00 on the check-in day. Check-in in 3 days: before it, whatever
    # the time of day; check-in today: after it. (The exact boundary: tests/test_cancellation.py.)
    p = await party()
    later = order_id_of(await p.book(3, 4))
    today = order_id_of(await p.book(0, 1))
    for order_id in (later, today):
        assert (await p.lc.post(f"/orders/{order_id}/accept")).code == 302
    assert (await p.gc.post(f"/orders/{later}/cancel")).code == 302
    assert (await order_row(app, later))["status"] == "cancelled"
    refused = await p.gc.post(f"/orders/{today}/cancel")
    deadline = f"{day(-1).isoformat()} 14:00"
    assert refused.code == 409 and f"免费取消已于 {deadline} 截止" in text(refused)
    assert (await order_row(app, today))["status"] == "accepted"
    assert await nights_of(app, p.house["id"]) == [(day(0), today)]


@pytest.mark.gen_test
async def test_review_only_after_check_out(app, party):
    p = await party()
    order_id = order_id_of(await p.book(0, 1))  # the stay begins today, ends tomorrow
    await p.lc.post(f"/orders/{order_id}/accept")
    response = await p.gc.post(f"/orders/{order_id}/review", {"rating": "5", "comment": "好"})
    assert response.code == 409 and f"退房后才能评价（{day(1).isoformat()} 12:00 起）" in text(response)
    assert await app.db.scalar("SELECT COUNT(*) FROM reviews") == 0


@pytest.mark.gen_test
async def test_request_unanswered_past_check_in_day_has_expired(app, party):
    p = await party()
    order_id = order_id_of(await p.book(0, 2))
    await app.db.execute("UPDATE orders SET check_in = %s WHERE id = %s", day(-1), order_id)
    response = await p.lc.post(f"/orders/{order_id}/accept")
    assert response.code == 409 and "订单已过期，不能再接单" in text(response)
    assert (await p.lc.post(f"/orders/{order_id}/reject", {"reason": "过期"})).code == 409
    assert 'data-status="expired"' in text(await p.gc.get(f"/orders/{order_id}"))


@pytest.mark.gen_test
@pytest.mark.parametrize("form,field,message", [
    ({"comment": "好"}, "rating", "请选择 1–5 星评分"),
    ({"rating": "0", "comment": "好"}, "rating", "请选择 1–5 星评分"),
    ({"rating": "6", "comment": "好"}, "rating", "请选择 1–5 星评分"),
    ({"rating": "4.5", "comment": "好"}, "rating", "请选择 1–5 星评分"),
    ({"rating": "3"}, "comment", "评价内容须为 1–500 个字"),
    ({"rating": "3", "comment": "   "}, "comment", "评价内容须为 1–500 个字"),
    ({"rating": "3", "comment": "好" * 501}, "comment", "评价内容须为 1–500 个字"),
])
async def test_review_validation(app, party, form, field, message):
    p = await party()
    order_id = order_id_of(await p.book(0, 1))
    await p.lc.post(f"/orders/{order_id}/accept")
    await stay_over(app, order_id)
    response = await p.gc.post(f"/orders/{order_id}/review", form)
    assert response.code == 400
    assert field_error(text(response), field) == message
    assert 'data-status="completed"' in text(response)
    assert await app.db.scalar("SELECT COUNT(*) FROM reviews") == 0


@pytest.mark.gen_test
async def test_review_of_500_characters_is_accepted(app, party):
    p = await party()
    order_id = order_id_of(await p.book(0, 1))
    await p.lc.post(f"/orders/{order_id}/accept")
    await stay_over(app, order_id)
    assert (await p.gc.post(f"/orders/{order_id}/review", {"rating": "1", "comment": "好" * 500})).code == 302
    assert len(await app.db.scalar("SELECT comment FROM reviews WHERE order_id = %s", order_id)) == 500


# Every (status, action) pair with a check-in of today (past the free-cancellation deadline, the
# stay not over, so no review yet): 302 when allowed, 409 otherwise. Reviews, release and the
# deadline's boundary: tests/test_order_lifecycle.py and tests/test_cancellation.py.
TRANSITIONS = {
    "pending": {"accept": 302, "reject": 302, "cancel": 302, "review": 409},
    "accepted": {"accept": 409, "reject": 409, "cancel": 409, "review": 409},
    "rejected": {"accept": 409, "reject": 409, "cancel": 409, "review": 409},
    "cancelled": {"accept": 409, "reject": 409, "cancel": 409, "review": 409},
    "completed": {"accept": 409, "reject": 409, "cancel": 409, "review": 409},
    "expired": {"accept": 409, "reject": 409, "cancel": 409, "review": 409},
}
RESULT = {"accept": "accepted", "reject": "rejected", "cancel": "cancelled"}


@pytest.mark.gen_test
@pytest.mark.parametrize("status,action,code", [
    (s, a, c) for s, actions in TRANSITIONS.items() for a, c in actions.items()])
async def test_status_transitions(app, party, status, action, code):
    p = await party()
    order_id = order_id_of(await p.book(0, 2))
    await set_status(app, order_id, status)
    client = p.lc if action in ("accept", "reject") else p.gc
    response = await client.post(f"/orders/{order_id}/{action}", {"reason": "不方便", "rating": "5", "comment": "好"})
    assert response.code == code, text(response)[:1500]
    after = (await order_row(app, order_id))["status"]
    if code == 302:
        assert after == RESULT[action]
        held = len(await nights_of(app, p.house["id"]))
        assert held == (0 if after in ("rejected", "cancelled") else 2)
    else:
        assert after == status
        assert "error-page" in text(response)


@pytest.mark.gen_test
async def test_review_twice_is_409(app, party):
    p = await party()
    order_id = order_id_of(await p.book(0, 1))
    await p.lc.post(f"/orders/{order_id}/accept")
    await stay_over(app, order_id)
    assert (await p.gc.post(f"/orders/{order_id}/review", {"rating": "5", "comment": "好"})).code == 302
    again = await p.gc.post(f"/orders/{order_id}/review", {"rating": "1", "comment": "再来"})
    assert again.code == 409 and "你已经评价过这次入住" in text(again)
    assert await app.db.scalar("SELECT COUNT(*) FROM reviews") == 1
    assert await app.db.scalar("SELECT order_count FROM houses WHERE id = %s", p.house["id"]) == 1


@pytest.mark.gen_test
async def test_action_redirects_to_safe_next_only(app, party):
    p = await party()
    first = order_id_of(await p.book(1, 2))
    second = order_id_of(await p.book(3, 4))
    back = await p.lc.post(f"/orders/{first}/accept", {"next": "/my/orders?role=landlord&page=1"})
    assert back.headers["Location"] == "/my/orders?role=landlord&page=1"
    evil = await p.lc.post(f"/orders/{second}/accept", {"next": "//evil.example/"})
    assert evil.headers["Location"] == f"/orders/{second}"


# --------------------------------------------------------------------------- authorisation


@pytest.mark.gen_test
async def test_order_page_only_for_its_guest_and_landlord(app, party):
    p = await party()
    order_id = order_id_of(await p.book(1, 2))
    assert (await p.gc.get(f"/orders/{order_id}")).code == 200
    assert (await p.lc.get(f"/orders/{order_id}")).code == 200
    stranger = await p.sc.get(f"/orders/{order_id}")
    assert stranger.code == 404 and "订单不存在" in text(stranger)
    assert (await p.gc.get(f"/orders/{order_id + 1000}")).code == 404
    anonymous = await p.anon.get(f"/orders/{order_id}")
    assert anonymous.code == 302 and anonymous.headers["Location"].startswith("/login?next=")


@pytest.mark.gen_test
@pytest.mark.parametrize("action", ["accept", "reject", "cancel", "review"])
@pytest.mark.parametrize("who,code,message", [
    ("anon", 403, "请先登录"),
    ("stranger", 404, "订单不存在"),
    ("wrong_party", 403, None),
])
async def test_order_actions_authorisation(app, party, action, who, code, message):
    p = await party()
    order_id = order_id_of(await p.book(0, 2))
    if action == "review":
        await set_status(app, order_id, "accepted")
        await stay_over(app, order_id)
    landlord_action = action in ("accept", "reject")
    client = {"anon": p.anon, "stranger": p.sc, "wrong_party": p.gc if landlord_action else p.lc}[who]
    response = await client.post(f"/orders/{order_id}/{action}", {"reason": "x", "rating": "5", "comment": "好"})
    assert response.code == code
    if message is None:
        message = "只有房东可以接单、拒绝或释放订单" if landlord_action else "只有房客本人可以取消或评价订单"
    assert message in text(response)
    before = "accepted" if action == "review" else "pending"  # the stored status: no action ran
    assert (await order_row(app, order_id))["status"] == before
    assert await app.db.scalar("SELECT COUNT(*) FROM reviews") == 0


@pytest.mark.gen_test
async def test_unknown_action_and_order_are_404(app, party):
    p = await party()
    order_id = order_id_of(await p.book(1, 2))
    assert (await p.lc.post(f"/orders/{order_id}/delete")).code == 404
    assert (await p.lc.post(f"/orders/{order_id + 1000}/accept")).code == 404


# --------------------------------------------------------------------------- my orders


@pytest.mark.gen_test
async def test_my_orders_lists_each_side_with_badges_and_actions(app, party):
    p = await party()
    pending = order_id_of(await p.book(1, 2))
    accepted = order_id_of(await p.book(0, 1))
    await p.lc.post(f"/orders/{accepted}/accept")
    await stay_over(app, accepted)  # the stay is over: completed, open for review
    rejected = order_id_of(await p.book(5, 6))
    await p.lc.post(f"/orders/{rejected}/reject", {"reason": "满了"})

    guest_page = await p.gc.get("/my/orders?role=guest")
    body = text(guest_page)
    assert guest_page.code == 200
    rows = dict(re.findall(r'class="[^"]*order-row" data-order-id="(\d+)" data-status="(\w+)"', body))
    assert rows == {str(pending): "pending", str(accepted): "completed", str(rejected): "rejected"}
    assert f'action="/orders/{pending}/cancel"' in body  # pending: cancel
    assert f'href="/orders/{accepted}#review"' in body  # stay over: review, no cancel
    assert f'action="/orders/{accepted}/cancel"' not in body
    assert f'action="/orders/{rejected}/' not in body and "拒绝原因：满了" in body
    assert "/accept" not in body and "/reject" not in body
    for label in ("待确认", "已完成", "已拒绝"):
        assert label in body

    landlord = text(await p.lc.get("/my/orders?role=landlord"))
    assert f'action="/orders/{pending}/accept"' in landlord and f'action="/orders/{pending}/reject"' in landlord
    assert f'action="/orders/{accepted}/' not in landlord
    assert "/cancel" not in landlord and "#review" not in landlord
    assert 'name="next" value="/my/orders?role=landlord&amp;page=1"' in landlord

    # The landlord has booked nothing; the guest lets nobody's listing.
    assert 'id="no-orders"' in text(await p.lc.get("/my/orders?role=guest"))
    assert 'id="no-orders"' in text(await p.gc.get("/my/orders?role=landlord"))
    assert 'id="no-orders"' in text(await p.sc.get("/my/orders"))


@pytest.mark.gen_test
async def test_my_orders_needs_login_and_a_known_role(app, party):
    p = await party()
    anonymous = await p.anon.get("/my/orders?role=guest")
    assert anonymous.code == 302 and anonymous.headers["Location"].startswith("/login?next=")
    bad = await p.gc.get("/my/orders?role=admin")
    assert bad.code == 400 and "role 只能是 guest" in text(bad)


@pytest.mark.gen_test
async def test_my_orders_pages(app, party):
    p = await party()
    for i in range(21):
        order_id_of(await p.book(2 * i, 2 * i + 1))
    first = text(await p.gc.get("/my/orders?role=guest"))
    second = text(await p.gc.get("/my/orders?role=guest&page=2"))
    assert first.count('class="list-group-item') == 20 and second.count('class="list-group-item') == 1
    assert 'href="/my/orders?role=guest&amp;page=2"' in first


# --------------------------------------------------------------------------- availability API


@pytest.mark.gen_test
async def test_availability_api(app, party, login, new_client):
    p = await party()
    a = order_id_of(await p.book(0, 2))
    b = order_id_of(await p.book(40, 43))
    rejected = order_id_of(await p.book(50, 51))
    await p.lc.post(f"/orders/{rejected}/reject", {"reason": "不行"})
    assert a and b
    wanted = {}
    for offset in (0, 1, 40, 41, 42):
        wanted.setdefault(day(offset).strftime("%Y-%m"), []).append(iso(offset))
    for month in {day(o).strftime("%Y-%m") for o in (0, 1, 40, 41, 42, 50)}:
        response = await p.anon.get(f"/api/v1/houses/{p.house['id']}/availability?month={month}")
        assert response.code == 200 and response.headers["Content-Type"].startswith("application/json")
        assert json_body(response) == {"house_id": p.house["id"], "month": month, "booked": wanted.get(month, [])}
    default = json_body(await p.anon.get(f"/api/v1/houses/{p.house['id']}/availability"))
    assert default["month"] == today().strftime("%Y-%m") and iso(0) in default["booked"]


@pytest.mark.gen_test
@pytest.mark.parametrize("month", ["2025-13", "2025-00", "2025-1", "abc", "2025/05", "1999-12", "2025-05-01"])
async def test_availability_api_bad_month_is_400(app, party, month):
    p = await party()
    response = await p.anon.get(f"/api/v1/houses/{p.house['id']}/availability?month={month}")
    assert response.code == 400
    assert json_body(response)["error"]["status"] == 400


@pytest.mark.gen_test
@pytest.mark.parametrize("status", ["pending", "offline", "deleted", "unknown"])
async def test_availability_api_non_public_is_404(app, party, status):
    p = await party(status="online" if status == "unknown" else status)
    house_id = p.house["id"] + (1000 if status == "unknown" else 0)
    # Not even the owner: the API only answers for public listings.
    response = await p.lc.get(f"/api/v1/houses/{house_id}/availability?month=2030-01")
    assert response.code == 404 and json_body(response)["error"]["status"] == 404


@pytest.mark.gen_test
async def test_edit_keeps_bookings_and_invalidates_listing_page(app, party):
    """The listing page is cached; an edit shows at once and existing orders keep their price."""
    p = await party()
    order_id = order_id_of(await p.book(1, 2))
    assert "测试房源" in text(await p.anon.get(f"/houses/{p.house['id']}"))
    # Same title and description: a price change keeps the listing online (no re-review).
    edited = await p.lc.post(f"/houses/{p.house['id']}/edit",
                             house_form(title="测试房源", description="安静整洁", price="500", unit="三室一厅"))
    assert edited.code == 302
    page = text(await p.anon.get(f"/houses/{p.house['id']}"))
    assert "三室一厅" in page and 'data-price-fen="50000"' in page
    assert (await order_row(app, order_id))["price_fen"] == 28800


@pytest.mark.gen_test
async def test_huge_order_and_listing_ids_are_404(app, party):
    huge = "999999999999999999"  # 18 digits: the most the routes accept
    p = await party()
    assert (await p.gc.get(f"/orders/{huge}")).code == 404
    for path in (f"/houses/{huge}/book", f"/orders/{huge}/cancel", f"/orders/{huge}/accept",
                 f"/orders/{huge}/review"):
        response = await p.gc.post(path, dict(sd=iso(1), ed=iso(2), rating="5", comment="好"))
        assert response.code == 404, path
    assert await app.db.scalar("SELECT COUNT(*) FROM orders") == 0


@pytest.mark.gen_test
async def test_unicode_digit_page_of_my_orders_is_the_first_page(app, party):
    p = await party()
    response = await p.gc.get("/my/orders?page=%C2%B2")
    assert response.code == 200
