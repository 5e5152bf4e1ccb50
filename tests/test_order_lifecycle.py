"""The calendar side of the order life cycle: stays completed after check-out (never mid-stay),
unanswered requests expired after their check-in day (their nights freed), the review window,
the admin revenue of completed stays only, and the host's 待处理 count. Time is injected
(``now``) or moved through the database; nothing sleeps."""

from __future__ import annotations

import asyncio
import datetime
import json

import pytest

from models import lifecycle, orders, stats
from tests.utils.booking import make_party, move_stay
from tests.utils.client import text
from tests.utils.dates import day, iso, today
from tests.utils.pages import order_id_of


def at(date: datetime.date, hour: int, minute: int = 0, second: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(date, datetime.time(hour, minute, second))


@pytest.fixture
def party(app, login, new_client):
    return lambda **overrides: make_party(app, login, new_client, **overrides)


async def status_of(app, order_id: int) -> str:
    return await app.db.scalar("SELECT status FROM orders WHERE id = %s", order_id)


# --------------------------------------------------------------------------- pure rules


def test_effective_status_completes_at_check_out_time_never_mid_stay():
    order = {"status": "accepted", "check_in": datetime.date(2030, 5, 1), "check_out": datetime.date(2030, 5, 4)}
    for moment in (at(datetime.date(2030, 5, 1), 15), at(datetime.date(2030, 5, 3), 23, 59),
                   at(datetime.date(2030, 5, 4), 11, 59, 59)):
        assert lifecycle.effective_status(order, moment) == "accepted", moment
    assert lifecycle.effective_status(order, at(datetime.date(2030, 5, 4), 12)) == "completed"
    assert lifecycle.effective_status(order, at(datetime.date(2030, 6, 1), 0)) == "completed"


def test_effective_status_expires_a_request_after_its_check_in_day():
    order = {"status": "pending", "check_in": datetime.date(2030, 5, 1), "check_out": datetime.date(2030, 5, 3)}
    assert lifecycle.effective_status(order, at(datetime.date(2030, 5, 1), 23, 59, 59)) == "pending"
    assert lifecycle.effective_status(order, at(datetime.date(2030, 5, 2), 0)) == "expired"
    # Other statuses are not moved by the calendar.
    for status in ("rejected", "cancelled", "completed", "expired"):
        assert lifecycle.effective_status({**order, "status": status}, at(datetime.date(2031, 1, 1), 0)) == status


def test_review_window_boundaries():
    order = {"status": "accepted", "check_in": datetime.date(2030, 5, 1), "check_out": datetime.date(2030, 5, 4),
             "review_rating": None}
    assert orders.refusal(order, "review", at(datetime.date(2030, 5, 4), 11, 59, 59)) == \
        "退房后才能评价（2030-05-04 12:00 起）"
    assert orders.refusal(order, "review", at(datetime.date(2030, 5, 4), 12)) is None
    assert orders.refusal(order, "review", at(datetime.date(2030, 5, 18), 11, 59, 59)) is None
    assert orders.refusal(order, "review", at(datetime.date(2030, 5, 18), 12)) == \
        "评价已于 2030-05-18 12:00 截止（退房后 14 天内可评价）"
    assert orders.refusal({**order, "review_rating": 4}, "review", at(datetime.date(2030, 5, 5), 9)) == \
        "你已经评价过这次入住"
    for status in ("pending", "rejected", "cancelled", "expired"):
        assert orders.refusal({**order, "status": status}, "review", at(datetime.date(2030, 5, 5), 9)) is not None


# --------------------------------------------------------------------------- on the database


@pytest.mark.gen_test
async def test_settle_completes_stays_after_check_out_and_counts_them(app, party):
    p = await party()
    over, ongoing, ends_today = await p.order(1, 2), await p.order(3, 5), await p.order(6, 8)
    for order_id in (over, ongoing, ends_today):
        assert (await p.lc.post(f"/orders/{order_id}/accept")).code == 302
    await move_stay(app, over, day(-4), day(-2))
    await move_stay(app, ongoing, day(-1), day(2))
    await move_stay(app, ends_today, day(-2), day(0))
    morning = at(today(), 11, 59)
    # Before noon on the check-out day the stay ending today is not over.
    result = await lifecycle.settle(app.db, morning)
    assert (result["completed"], result["house_ids"]) == (1, [p.house["id"]])
    assert [await status_of(app, o) for o in (over, ongoing, ends_today)] == ["completed", "accepted", "accepted"]
    assert (await lifecycle.settle(app.db, at(today(), 12)))["completed"] == 1
    assert [await status_of(app, o) for o in (over, ongoing, ends_today)] == ["completed", "accepted", "completed"]
    assert await app.db.scalar("SELECT order_count FROM houses WHERE id = %s", p.house["id"]) == 2
    # Settling again changes nothing (and counts nothing twice).
    assert (await lifecycle.settle(app.db, at(today(), 13)))["houses"] == 0
    assert await app.db.scalar("SELECT order_count FROM houses WHERE id = %s", p.house["id"]) == 2


@pytest.mark.gen_test
async def test_completed_is_shown_when_read_before_any_settling(app, party):
    p = await party()
    order_id = await p.order(1, 2)
    await p.lc.post(f"/orders/{order_id}/accept")
    await move_stay(app, order_id, day(-3), day(-1))
    page = text(await p.gc.get(f"/orders/{order_id}"))
    assert 'data-status="completed"' in page and 'id="review-form"' in page
    assert await status_of(app, order_id) == "accepted"  # not yet written: computed when read


@pytest.mark.gen_test
async def test_expired_request_frees_its_nights_for_a_new_booking(app, party):
    p = await party()
    stale = await p.order(1, 4)
    # The host never answered and the check-in day is over: the stay would have begun yesterday.
    await move_stay(app, stale, day(-1), day(2))
    await app.db.execute("UPDATE booked_nights SET night = night - INTERVAL 2 DAY WHERE order_id = %s", stale)
    # Not settled yet, but the calendar no longer shows its nights as taken.
    assert await orders.booked_nights(app.db, p.house["id"], day(-5), day(10)) == []
    page = text(await p.gc.get(f"/orders/{stale}"))
    assert 'data-status="expired"' in page and "已过期" in page
    # Another guest books nights the expired request still holds: the booking settles them first.
    fresh = order_id_of(await p.book(0, 2, client=p.sc))
    assert await status_of(app, stale) == "expired"
    nights = await app.db.query("SELECT night, order_id FROM booked_nights WHERE house_id = %s ORDER BY night",
                                p.house["id"])
    assert [(n["night"], n["order_id"]) for n in nights] == [(day(0), fresh), (day(1), fresh)]


@pytest.mark.gen_test
async def test_settle_expires_requests_and_deletes_their_nights(app, party):
    p = await party()
    stale, later = await p.order(1, 3), await p.order(5, 6)
    await move_stay(app, stale, day(-2), day(0))
    result = await lifecycle.settle(app.db, at(today(), 0, 0, 1))
    assert result["expired"] == 1
    assert await status_of(app, stale) == "expired" and await status_of(app, later) == "pending"
    assert await app.db.scalar("SELECT COUNT(*) FROM booked_nights WHERE order_id = %s", stale) == 0
    assert await app.db.scalar("SELECT COUNT(*) FROM booked_nights WHERE order_id = %s", later) == 1
    # The conversation of the request says it lapsed, in the same transaction as the status.
    events = [json.loads(row["body"]) for row in await app.db.query(
        "SELECT m.body FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        "WHERE m.kind = 'system' AND c.house_id = %s ORDER BY m.id", p.house["id"])]
    assert [e["event"] for e in events if e["order_id"] == stale] == ["booked", "expired"]
    # A request whose check-in day is today is still open to an answer.
    today_request = await p.order(0, 1)
    assert (await lifecycle.settle(app.db, at(today(), 23, 59)))["expired"] == 0
    assert (await p.lc.post(f"/orders/{today_request}/accept")).code == 302


@pytest.mark.gen_test
async def test_review_of_a_stay_inside_and_outside_its_window(app, party):
    p = await party()
    inside, too_late = await p.order(1, 2), await p.order(3, 4)
    for order_id in (inside, too_late):
        await p.lc.post(f"/orders/{order_id}/accept")
    await move_stay(app, inside, day(-14), day(-13))   # reviews close 14 days after check-out, 12:00
    await move_stay(app, too_late, day(-16), day(-15))
    refused = await p.gc.post(f"/orders/{too_late}/review", {"rating": "5", "comment": "好"})
    assert refused.code == 409 and f"评价已于 {iso(-1)} 12:00 截止" in text(refused)
    assert (await p.gc.post(f"/orders/{inside}/review", {"rating": "4", "comment": "不错"})).code == 302
    assert await app.db.scalar("SELECT COUNT(*) FROM reviews") == 1
    # Both stays were completed (and counted) by the calendar, reviewed or not.
    assert await app.db.scalar("SELECT order_count FROM houses WHERE id = %s", p.house["id"]) == 2


@pytest.mark.gen_test
async def test_model_review_with_injected_now(app, party):
    p = await party()
    order_id = await p.order(2, 4)
    await orders.accept(app.db, order_id, datetime.datetime.now())
    with pytest.raises(orders.OrderConflict, match="退房后才能评价"):
        await orders.review(app.db, order_id, 5, "好", at(day(4), 11, 59))
    await orders.review(app.db, order_id, 5, "好", at(day(4), 12))
    assert await status_of(app, order_id) == "completed"
    with pytest.raises(orders.OrderConflict, match="你已经评价过"):
        await orders.review(app.db, order_id, 3, "再来", at(day(5), 9))


@pytest.mark.gen_test
async def test_admin_revenue_counts_completed_stays_only(app, party):
    p = await party(price_fen=10000, deposit_fen=50000)
    done, ongoing, pending = await p.order(1, 3), await p.order(4, 5), await p.order(6, 7)
    for order_id in (done, ongoing):
        await p.lc.post(f"/orders/{order_id}/accept")
    await move_stay(app, done, day(-5), day(-3))  # accepted, over, not yet settled
    totals = await stats.totals(app.db, at(today(), 9))
    assert totals["revenue_fen"] == 2 * 10000  # the nights only: the deposit is a refundable hold
    assert totals["orders"]["completed"] == 1 and totals["orders"]["accepted"] == 1
    assert totals["orders"]["pending"] == 1
    await move_stay(app, pending, day(-2), day(-1))  # unanswered past its check-in day
    assert (await stats.totals(app.db, at(today(), 9)))["orders"]["expired"] == 1


@pytest.mark.gen_test
async def test_header_counts_pending_requests_for_the_host(app, party):
    p = await party()
    assert 'id="nav-pending"' not in text(await p.lc.get("/my/orders?role=landlord"))
    first, second, third = await p.order(1, 2), await p.order(3, 4), await p.order(5, 6)
    page = text(await p.lc.get("/"))
    assert '<span class="badge rounded-pill text-bg-danger" id="pending-count">3</span>' in page
    assert 'href="/my/orders?role=landlord" id="nav-pending"' in page
    await p.lc.post(f"/orders/{first}/accept")
    await p.lc.post(f"/orders/{second}/reject", {"reason": "满了"})
    assert 'id="pending-count">1<' in text(await p.lc.get("/houses"))
    await move_stay(app, third, day(-2), day(-1))  # expired: no longer waiting for an answer
    # The count is kept in Redis labelled with the day (handlers/base.py): time passing relabels it,
    # moving the stay behind the application's back does not, so drop it as a new day would.
    await app.redis.delete(f"cache:pending:{p.landlord['id']}")
    assert 'id="nav-pending"' not in text(await p.lc.get("/houses"))
    # The guest hosts nothing: no badge.
    assert 'id="nav-pending"' not in text(await p.gc.get("/"))
    assert await orders.pending_count(app.db, p.landlord["id"]) == 0


@pytest.mark.gen_test
async def test_pending_count_is_one_indexed_query(app, party):
    p = await party()
    await p.order(1, 2)
    plan = await app.db.query(
        "EXPLAIN SELECT COUNT(*) FROM houses h JOIN orders o ON o.house_id = h.id "
        "WHERE h.owner_id = %s AND o.status = 'pending' AND o.check_in > %s", p.landlord["id"], day(-1))
    assert all(row["key"] for row in plan), plan  # every table read through an index, no scan


@pytest.mark.gen_test
async def test_settler_task_settles_and_refreshes_the_listings(app, party):
    p = await party()
    stale = await p.order(1, 3)
    await move_stay(app, stale, day(-2), day(0))
    changed: list[list[int]] = []
    done = asyncio.Event()

    async def on_settled(house_ids):
        changed.append(house_ids)
        await app.cache.invalidate_houses(house_ids)
        done.set()

    settler = lifecycle.Settler(app.db, on_settled, interval=3600, clock=lambda: at(today(), 9))
    settler.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=30)
    finally:
        await settler.stop()
    assert changed == [[p.house["id"]]]
    assert await status_of(app, stale) == "expired"


@pytest.mark.gen_test
async def test_settler_survives_a_failing_pass(app):
    calls = []

    async def broken(house_ids):
        calls.append(house_ids)
        raise RuntimeError("cache down")

    class FailingDb:
        async def query(self, *args):
            raise RuntimeError("database down")

    settler = lifecycle.Settler(FailingDb(), broken, clock=lambda: at(today(), 9))
    assert await settler.run_once() is None and settler.runs == 1
    assert calls == []
