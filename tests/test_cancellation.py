"""The cancellation policy: a guest cancels free of charge until IHOME_FREE_CANCEL_HOURS before
check-in (14:00 on the check-in day); after that only the host can release the stay. Enforced
by the server on both sides of the boundary (an injected ``now``, never a sleep), shown before
booking and on the order as a date and time."""

from __future__ import annotations

import datetime

import pytest

from config import ConfigError, load_settings
from models import lifecycle, orders
from tests.utils.booking import make_party
from tests.utils.client import text
from tests.utils.dates import day, iso


def at(date: datetime.date, hour: int, minute: int = 0, second: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(date, datetime.time(hour, minute, second))


@pytest.fixture
def party(app, login, new_client):
    return lambda **overrides: make_party(app, login, new_client, **overrides)


def test_deadline_is_the_setting_before_check_in_at_14():
    check_in = datetime.date(2030, 5, 10)
    assert lifecycle.cancel_deadline(check_in, 24) == at(datetime.date(2030, 5, 9), 14)
    assert lifecycle.cancel_deadline(check_in, 0) == at(check_in, 14)
    assert lifecycle.cancel_deadline(check_in, 72) == at(datetime.date(2030, 5, 7), 14)


def test_guest_cancel_rule_on_both_sides_of_the_boundary():
    order = {"status": "accepted", "check_in": datetime.date(2030, 5, 10), "check_out": datetime.date(2030, 5, 12)}
    deadline = at(datetime.date(2030, 5, 9), 14)
    assert orders.refusal(order, "cancel", deadline - datetime.timedelta(seconds=1), 24) is None
    assert orders.refusal(order, "cancel", deadline, 24) == (
        "免费取消已于 2030-05-09 14:00 截止，现在只有房东可以取消这次入住，请联系房东")
    # The host may still release it, until check-in time.
    assert orders.refusal(order, "release", deadline, 24) is None
    assert orders.refusal(order, "release", at(datetime.date(2030, 5, 10), 13, 59, 59), 24) is None
    assert orders.refusal(order, "release", at(datetime.date(2030, 5, 10), 14), 24) == "已到入住时间，不能再释放这次入住"
    # A request not yet accepted can be withdrawn until it expires.
    assert orders.refusal({**order, "status": "pending"}, "cancel", at(datetime.date(2030, 5, 10), 23), 24) is None
    assert orders.refusal({**order, "status": "pending"}, "release", deadline, 24) == "订单待确认，不能释放"


@pytest.mark.gen_test
async def test_model_cancel_enforces_the_deadline_with_injected_now(app, party):
    p = await party()
    early, late = await p.order(5, 6), await p.order(7, 8)
    for order_id in (early, late):
        await orders.accept(app.db, order_id, datetime.datetime.now())
    just_before = lifecycle.cancel_deadline(day(5), 24) - datetime.timedelta(seconds=1)
    await orders.cancel(app.db, early, just_before, 24)
    assert await app.db.scalar("SELECT status FROM orders WHERE id = %s", early) == "cancelled"
    assert await app.db.scalar("SELECT COUNT(*) FROM booked_nights WHERE order_id = %s", early) == 0
    with pytest.raises(orders.OrderConflict, match="免费取消已于"):
        await orders.cancel(app.db, late, lifecycle.cancel_deadline(day(7), 24), 24)
    assert await app.db.scalar("SELECT status FROM orders WHERE id = %s", late) == "accepted"
    # The host releases it after the guest's deadline: cancelled, nights freed.
    await orders.release(app.db, late, lifecycle.cancel_deadline(day(7), 24))
    assert await app.db.scalar("SELECT status FROM orders WHERE id = %s", late) == "cancelled"
    assert await app.db.scalar("SELECT COUNT(*) FROM booked_nights WHERE order_id = %s", late) == 0


@pytest.mark.gen_test
async def test_over_http_guest_before_and_after_the_deadline_and_host_release(app, party):
    p = await party()
    later, tomorrow_ish = await p.order(3, 4), await p.order(0, 1)
    for order_id in (later, tomorrow_ish):
        assert (await p.lc.post(f"/orders/{order_id}/accept")).code == 302
    # Check-in in 3 days: the deadline (2 days from now, 14:00) has not passed whatever the hour.
    page = text(await p.gc.get(f"/orders/{later}"))
    assert f'data-deadline="{iso(2)}T14:00:00">{iso(2)} 14:00 前可免费取消' in page
    assert f'action="/orders/{later}/cancel"' in page
    # Check-in today: the deadline was yesterday 14:00. No cancel button; a forged POST is a 409.
    page = text(await p.gc.get(f"/orders/{tomorrow_ish}"))
    assert f'action="/orders/{tomorrow_ish}/cancel"' not in page
    refused = await p.gc.post(f"/orders/{tomorrow_ish}/cancel")
    assert refused.code == 409 and f"免费取消已于 {iso(-1)} 14:00 截止" in text(refused)
    # Only the host can release it; the guest cannot use the host's action.
    assert (await p.gc.post(f"/orders/{later}/release")).code == 403
    released = await p.lc.post(f"/orders/{later}/release")
    assert released.code == 302
    assert await app.db.scalar("SELECT status FROM orders WHERE id = %s", later) == "cancelled"
    assert (await p.gc.post(f"/orders/{later}/cancel")).code == 409


@pytest.mark.gen_test
async def test_policy_shown_before_booking(app, party):
    p = await party()
    anonymous = text(await p.anon.get(f"/houses/{p.house['id']}"))
    assert "入住前 24 小时（入住时间为入住日 14:00）之前可免费取消，之后只有房东可以取消。" in anonymous
    dated = text(await p.anon.get(f"/houses/{p.house['id']}?sd={iso(5)}&ed={iso(7)}"))
    assert f'<span id="cancel-deadline" data-deadline="{iso(4)}T14:00:00">{iso(4)} 14:00 前可免费取消</span>' in dated


class TestSetting:
    """IHOME_FREE_CANCEL_HOURS: whole hours 0–720, default 24."""

    def test_default_and_values(self):
        assert load_settings({}).free_cancel_hours == 24
        assert load_settings({"IHOME_FREE_CANCEL_HOURS": "48"}).free_cancel_hours == 48
        assert load_settings({"IHOME_FREE_CANCEL_HOURS": "0"}).free_cancel_hours == 0

    @pytest.mark.parametrize("raw", ["-1", "721", "1.5", "一天", ""])
    def test_refused(self, raw):
        with pytest.raises(ConfigError, match="IHOME_FREE_CANCEL_HOURS"):
            load_settings({"IHOME_FREE_CANCEL_HOURS": raw})


class TestLongerNotice:
    """IHOME_FREE_CANCEL_HOURS=72: three days' notice, so a check-in in 2 days is already past
    the deadline, whatever the hour."""

    @pytest.fixture
    def settings(self, base_settings):
        return base_settings.replace(free_cancel_hours=72)

    @pytest.mark.gen_test
    async def test_the_setting_moves_the_deadline(self, app, party):
        p = await party()
        order_id = await p.order(2, 3)
        await p.lc.post(f"/orders/{order_id}/accept")
        refused = await p.gc.post(f"/orders/{order_id}/cancel")
        assert refused.code == 409 and f"免费取消已于 {iso(-1)} 14:00 截止" in text(refused)
        listing = text(await p.anon.get(f"/houses/{p.house['id']}"))
        assert "入住前 72 小时" in listing
